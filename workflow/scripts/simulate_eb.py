"""Simulate one built-in ALMA execution block (EB) as a real ASDM, with the truth beside it.

Pipeline of :func:`simulate_eb` (all parameters come from ``resources/demo_mous.yaml``):

1. ``casatools.simulator`` writes an empty MS: ALMA 12 m antennas on real pads, Band 6 TDM
   (Tsys/ATMOSPHERE) and FDM (science) spectral windows, XX/YY, autocorrelations, one
   ``observe`` call per scan and spw.
2. The MS is repaired so that it looks like an imported ALMA MS: rows sorted by time, one
   SCAN_NUMBER per scan (1..N) for all its spws, a STATE table with ALMA intents, one
   POLARIZATION row, no MODEL/CORRECTED columns, SPECTRAL_WINDOW.NAME/BBC_NO, a PROCESSOR row.
3. DATA is computed with numpy from the corruption model (documented in the yaml and in the
   truth file); a SYSCAL subtable with per-antenna Tsys spectra of the TDM spws at the times of
   the ATMOSPHERE scans is created and linked to the MS.
4. ``exportasdm`` writes the ASDM. It ignores MS scan numbers and intents (every ExecBlock is
   one OBSERVE_TARGET scan; ExecBlocks are cut by the OBSERVATION time range), so the MS is
   exported with one OBSERVATION_ID per scan (one ExecBlock per scan) and the XML tables are
   then rewritten: one ExecBlock/SBSummary, Scan rows 1..N with the real intents, one Subscan
   per scan, Main rows renumbered, the BDF headers' project paths fixed, spectral window names
   added, a Flag table with the configured online flags. The per-channel BDF flags that
   exportasdm writes (all zero, ~35% of the volume) are removed. The visibilities are stored
   as they are (FLOAT32, no conjugation: the round trip is exact).
5. ``importasdm`` re-imports the ASDM; scans, fields, spws per scan, intents, row counts, BBC_NO,
   SYSCAL (read back with ``gencal(caltype='tsys')``), autocorrelations and every visibility are
   compared with the MS that was written. Any mismatch raises ``RuntimeError``.

Outputs (moved into place only after the verification passed): the ASDM directory, the truth
JSON and an antenna-position JSON in the format of ALMA's position service (``getantposalma``),
which ``gencal(caltype='antpos', infile=...)`` accepts.
"""

# (no "from __future__ import annotations": Snakemake's script directive writes its preamble before
# the first line of the file, where a __future__ import would no longer be legal)
import datetime as _dt
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import tempfile
import time as _time
from typing import Any

import numpy as np

_DAY_S = 86400.0
_CORR_TYPE = {"XX": 9, "XY": 10, "YX": 11, "YY": 12}
_MODEL_TEXT = (
    "Cross-correlations (i=ANTENNA1, j=ANTENNA2, pol p, channel frequency nu, time t, field f): "
    "DATA = g_ip(t) * conj(g_jp(t)) * B_ip(nu) * conj(B_jp(nu)) * (S_f(nu) + n) "
    "/ sqrt(Tsys_ip(nu,f) * Tsys_jp(nu,f)), with S_f(nu) = S0_f * (nu/nu0)^spix_f (point source at "
    "the phase centre, real) and n complex gaussian noise with sigma noise_sigma_jy per real and "
    "imaginary part. g = amp * exp(1j*radians(phase_deg)), B = amp * exp(1j*radians(phase_deg)). "
    "Autocorrelations: DATA = |g_ip(t)|^2 |B_ip(nu)|^2 (real). Tsys_ip(nu,f) is constant in time "
    "within the EB for each field (elevation of the field at its ATMOSPHERE scan) and is written "
    "to SYSCAL.TSYS_SPECTRUM for the TDM spws at the ATMOSPHERE scans. Applying CASA's Tsys "
    "calibration (gencal caltype='tsys', applycal with spwmap TDM->FDM) multiplies DATA by "
    "sqrt(Tsys_i Tsys_j) and removes the Tsys term."
)


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------
def simulate_eb(*, params: dict, eb: str, asdm: str, truth: str, antpos_json: str, log: str) -> None:
    """Simulate execution block ``eb`` of the demo MOUS described by ``params``.

    Parameters
    ----------
    params : dict
        The demo MOUS parameters (content of ``resources/demo_mous.yaml``).
    eb : str
        Name of the EB; must be one of ``params['execution_blocks'][*]['name']``.
    asdm : str
        Output ASDM directory.
    truth : str
        Output truth JSON file.
    antpos_json : str
        Output antenna-position JSON file (``getantposalma`` format, true positions).
    log : str
        CASA log file.

    Raises
    ------
    RuntimeError
        If the ASDM, once re-imported with ``importasdm``, does not match the simulated MS.
    """
    from casatasks import casalog

    asdm, truth, antpos_json, log = (os.path.abspath(p) for p in (asdm, truth, antpos_json, log))
    for path in (asdm, truth, antpos_json, log):
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    casalog.setlogfile(os.path.abspath(log))
    casalog.origin("simulate_eb")
    t_start = _time.time()

    setup = _build_setup(params, eb)
    outdir = os.path.dirname(os.path.abspath(asdm))
    work = tempfile.mkdtemp(prefix=f".simulate_{eb}_", dir=outdir)
    cwd = os.getcwd()
    try:
        os.chdir(work)  # CASA tasks drop stray files in the working directory
        ms = os.path.join(work, f"{eb}.sim.ms")
        _simulate_empty_ms(setup, ms)
        _repair_ms(setup, ms)
        model = _draw_corruptions(setup)
        _write_data(setup, model, ms)
        _write_syscal(setup, model, ms)
        casalog.post(f"simulated MS {ms} ready after {_elapsed(t_start)}", "INFO")

        asdm_tmp = os.path.join(work, eb)
        _export_asdm(setup, ms, asdm_tmp, work)
        casalog.post(f"ASDM exported and repaired after {_elapsed(t_start)}", "INFO")

        _verify_asdm(setup, model, ms, asdm_tmp, work)
        casalog.post(f"ASDM verified after {_elapsed(t_start)}", "INFO")

        truth_tmp = os.path.join(work, "truth.json")
        antpos_tmp = os.path.join(work, "antpos.json")
        _write_truth(setup, model, truth_tmp)
        _write_antpos(setup, antpos_tmp, os.path.basename(antpos_json))

        # move the verified results into place (replacing previous outputs)
        for src, dst in ((asdm_tmp, asdm), (truth_tmp, truth), (antpos_tmp, antpos_json)):
            dst = os.path.abspath(dst)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            elif os.path.lexists(dst):
                os.remove(dst)
            shutil.move(src, dst)
        casalog.post(f"simulate_eb {eb} done in {_elapsed(t_start)}", "INFO")
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def _elapsed(t0: float) -> str:
    return f"{_time.time() - t0:.1f} s"


# ----------------------------------------------------------------------------------------------
# Setup: everything derived from params (no CASA state)
# ----------------------------------------------------------------------------------------------
def _casadata_dir() -> str:
    spec = importlib.util.find_spec("casadata")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python package casadata not found (needed for the array configuration)")
    return os.path.join(list(spec.submodule_search_locations)[0], "__data__")


def _utc_to_mjd_s(iso: str) -> float:
    t = _dt.datetime.fromisoformat(str(iso).replace("Z", ""))
    mjd0 = _dt.datetime(1858, 11, 17)
    return (t - mjd0).total_seconds()


def _mjd_s_to_casa(t: float) -> str:
    d = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=t)
    return d.strftime("%Y/%m/%d/%H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _build_setup(params: dict, eb: str) -> dict[str, Any]:
    """Derive antennas, spws, fields and the scan timeline of EB ``eb`` from ``params``."""
    from casatasks.private.simutil import simutil

    ebs = {e["name"]: e for e in params["execution_blocks"]}
    if eb not in ebs:
        raise ValueError(f"EB {eb!r} not in params['execution_blocks'] ({sorted(ebs)})")
    ebp = ebs[eb]

    # antennas: pads of a casadata simmos configuration, LOC -> ITRF with simutil
    cfg = os.path.join(_casadata_dir(), "alma", "simmos", params["array_config"])
    if not os.path.exists(cfg):
        raise FileNotFoundError(cfg)
    x, y, z, _d, pads, _names, _tel, _obs = simutil().readantenna(cfg)
    padpos = {str(p): (float(a), float(b), float(c)) for p, a, b, c in zip(pads, x, y, z)}
    antennas = []
    for a in params["antennas"]:
        if a["pad"] not in padpos:
            raise ValueError(f"pad {a['pad']} of antenna {a['name']} not in {cfg}")
        antennas.append({"name": a["name"], "pad": a["pad"], "itrf": padpos[a["pad"]]})

    # spectral windows
    spws = []
    for i, s in enumerate(params["spectral_windows"]):
        nchan = int(s["nchan"])
        bw = float(s["bandwidth_ghz"]) * 1e9
        width = bw / nchan
        centre = float(s["centre_ghz"]) * 1e9
        freqs = centre - bw / 2 + (np.arange(nchan) + 0.5) * width
        spws.append({"id": i, "name": s["name"], "type": s["type"].upper(), "baseband": int(s["baseband"]),
                     "nchan": nchan, "width": width, "bandwidth": bw, "centre": centre, "freqs": freqs})
    tdm = [s["id"] for s in spws if s["type"] == "TDM"]
    fdm = [s["id"] for s in spws if s["type"] == "FDM"]
    if not tdm or not fdm:
        raise ValueError("need at least one TDM and one FDM spectral window")
    for f in fdm:
        bb_tdm = [t for t in tdm if spws[t]["baseband"] == spws[f]["baseband"]]
        if not bb_tdm:
            raise ValueError(f"FDM spw {f} has no TDM spw in its baseband")
        lo, hi = spws[bb_tdm[0]]["freqs"][[0, -1]]
        if spws[f]["freqs"][0] < lo or spws[f]["freqs"][-1] > hi:
            raise ValueError(f"FDM spw {f} is not inside the TDM coverage of its baseband")

    fields = []
    for i, f in enumerate(params["fields"]):
        fields.append({"id": i, "name": f["name"], "role": f["role"], "ra": f["ra"], "dec": f["dec"],
                       "intents": list(f["intents"]), "flux_jy": float(f["flux_jy"]), "spix": float(f["spix"])})
    fid = {f["name"]: f["id"] for f in fields}

    tint = float(params["integration_s"])
    slew = float(params["slew_s"])
    t = _utc_to_mjd_s(ebp["start_utc"])
    scans = []
    for k, sc in enumerate(params["scans"], start=1):
        if sc["field"] not in fid:
            raise ValueError(f"scan {k}: unknown field {sc['field']}")
        nint = int(math.floor(float(sc["duration_s"]) / tint + 1e-9))
        if nint < 1:
            raise ValueError(f"scan {k}: shorter than one integration")
        f = fields[fid[sc["field"]]]
        if sc["kind"] == "atm":
            intents = ["CALIBRATE_ATMOSPHERE"]
            sspw = tdm
        elif sc["kind"] == "obs":
            intents = list(f["intents"])
            sspw = fdm
        else:
            raise ValueError(f"scan {k}: kind must be atm or obs")
        scans.append({"scan": k, "field": f["name"], "field_id": f["id"], "kind": sc["kind"],
                      "intents": intents, "obs_mode": ",".join(f"{i}#ON_SOURCE" for i in intents),
                      "spws": list(sspw), "nint": nint, "start": t, "end": t + nint * tint,
                      "times": t + (np.arange(nint) + 0.5) * tint})
        t = t + nint * tint + slew
    for f in fields:
        if not any(s["field_id"] == f["id"] and s["kind"] == "atm" for s in scans):
            raise ValueError(f"field {f['name']} has no atm scan (needed for its Tsys)")

    ant_names = [a["name"] for a in antennas]
    online_flags = []
    for fl in params.get("online_flags") or []:
        if fl["antenna"] not in ant_names:
            raise ValueError(f"online flag: unknown antenna {fl['antenna']}")
        sc = scans[int(fl["scan"]) - 1]
        start = sc["start"] + float(fl["start_offset_s"])
        online_flags.append({"antenna": fl["antenna"], "scan": sc["scan"], "start": start,
                             "end": start + float(fl["duration_s"]), "reason": str(fl["reason"]).replace(" ", "_")})

    corr = [c.upper() for c in params.get("correlations", ["XX", "YY"])]
    if corr not in (["XX", "YY"], ["XX"]):
        raise ValueError(f"correlations {corr}: the model supports the parallel hands XX, YY only")
    return {"params": params, "eb": eb, "ebp": ebp, "seed": int(params["seed"]) + int(ebp["seed_offset"]),
            "antennas": antennas, "spws": spws, "tdm": tdm, "fdm": fdm, "fields": fields, "scans": scans,
            "tint": tint, "corr": corr, "npol": len(corr), "nu0": float(params["ref_freq_ghz"]) * 1e9,
            "online_flags": online_flags, "times": np.concatenate([s["times"] for s in scans])}


# ----------------------------------------------------------------------------------------------
# 1. simulator
# ----------------------------------------------------------------------------------------------
def _simulate_empty_ms(setup: dict, ms: str) -> None:
    from casatools import measures, simulator

    me = measures()
    sm = simulator()
    p = setup["params"]
    ants = setup["antennas"]
    t0 = setup["scans"][0]["start"]
    if not sm.open(ms):
        raise RuntimeError(f"simulator could not create {ms}")
    try:
        sm.setconfig(telescopename=p.get("telescope", "ALMA"),
                     x=[a["itrf"][0] for a in ants], y=[a["itrf"][1] for a in ants], z=[a["itrf"][2] for a in ants],
                     dishdiameter=[float(p["dish_diameter_m"])] * len(ants), mount=["ALT-AZ"] * len(ants),
                     antname=[a["name"] for a in ants], padname=[a["pad"] for a in ants],
                     coordsystem="global", referencelocation=me.observatory("ALMA"))
        for s in setup["spws"]:
            sm.setspwindow(spwname=s["name"], freq=f"{s['freqs'][0]:.3f}Hz", deltafreq=f"{s['width']:.6f}Hz",
                           freqresolution=f"{s['width']:.6f}Hz", nchannels=s["nchan"],
                           stokes=" ".join(setup["corr"]), refcode="TOPO")
        sm.setfeed(mode="perfect X Y", pol=[""])
        for f in setup["fields"]:
            sm.setfield(sourcename=f["name"], sourcedirection=me.direction("J2000", f["ra"], f["dec"]))
        sm.setlimits(shadowlimit=0.001, elevationlimit="3deg")
        sm.setauto(autocorrwt=1.0)
        # The simulator converts the reference epoch to TAI and then writes those seconds as UTC
        # (TIME would be 37 s late): give it the UTC start labelled as TAI.
        sm.settimes(integrationtime=f"{setup['tint']}s", usehourangle=False,
                    referencetime=me.epoch("TAI", _mjd_s_to_casa(t0)))
        for sc in setup["scans"]:
            for spw in sc["spws"]:
                ok = sm.observe(sourcename=sc["field"], spwname=setup["spws"][spw]["name"],
                                starttime=f"{sc['start'] - t0:.3f}s", stoptime=f"{sc['end'] - t0:.3f}s")
                if not ok:
                    raise RuntimeError(f"simulator observe failed for scan {sc['scan']} spw {spw}")
    finally:
        sm.close()
        sm.done()


# ----------------------------------------------------------------------------------------------
# 2. repair the MS
# ----------------------------------------------------------------------------------------------
def _repair_ms(setup: dict, ms: str) -> None:
    from casatools import table

    tb = table()
    # sort rows by time (exportasdm assumes it), then data description and baseline
    sorted_ms = ms + ".sorted"
    tb.open(ms)
    q = tb.query("", sortlist="TIME,DATA_DESC_ID,ANTENNA1,ANTENNA2")
    q.copy(sorted_ms, deep=True, valuecopy=True)
    q.close()
    tb.close()
    shutil.rmtree(ms)
    os.rename(sorted_ms, ms)

    tb.open(ms, nomodify=False)
    for col in ("MODEL_DATA", "CORRECTED_DATA"):
        if col in tb.colnames():
            tb.removecols([col])
    times = tb.getcol("TIME")
    ddid = tb.getcol("DATA_DESC_ID")
    fieldcol = tb.getcol("FIELD_ID")
    scan = np.zeros(len(times), dtype=np.int32)
    state = np.zeros(len(times), dtype=np.int32)
    modes = list(dict.fromkeys(s["obs_mode"] for s in setup["scans"]))  # distinct, in order of use
    for sc in setup["scans"]:
        sel = (times > sc["start"]) & (times < sc["end"])
        if not np.all(fieldcol[sel] == sc["field_id"]):
            raise RuntimeError(f"scan {sc['scan']}: simulator rows with the wrong field")
        expected = sc["nint"] * len(sc["spws"]) * _nbaselines(setup)
        if sel.sum() != expected:
            raise RuntimeError(f"scan {sc['scan']}: simulator wrote {sel.sum()} rows, expected {expected} "
                               "(elevation or shadow limit?)")
        scan[sel] = sc["scan"]
        state[sel] = modes.index(sc["obs_mode"])
    if np.any(scan == 0):
        raise RuntimeError("simulator rows outside the scan timeline")
    tb.putcol("SCAN_NUMBER", scan)
    tb.putcol("STATE_ID", state)
    tb.putcol("PROCESSOR_ID", np.zeros(len(times), dtype=np.int32))
    tb.putcol("OBSERVATION_ID", np.zeros(len(times), dtype=np.int32))
    tb.close()

    # POLARIZATION: a single row shared by all data descriptions
    tb.open(ms + "/DATA_DESCRIPTION", nomodify=False)
    pol_ids = tb.getcol("POLARIZATION_ID")
    spw_ids = tb.getcol("SPECTRAL_WINDOW_ID")
    if not np.array_equal(spw_ids, np.arange(len(setup["spws"]))):
        raise RuntimeError(f"unexpected DATA_DESCRIPTION spw ids {spw_ids}")
    tb.putcol("POLARIZATION_ID", np.zeros_like(pol_ids))
    tb.close()
    if not np.array_equal(np.unique(ddid), np.arange(len(setup["spws"]))):
        raise RuntimeError("DATA_DESC_ID does not equal spw id")
    tb.open(ms + "/POLARIZATION", nomodify=False)
    ctypes = tb.getcol("CORR_TYPE")
    want = [_CORR_TYPE[c] for c in setup["corr"]]
    if list(ctypes[:, 0]) != want:
        raise RuntimeError(f"unexpected POLARIZATION.CORR_TYPE {ctypes[:, 0]}")
    if tb.nrows() > 1:
        tb.removerows(list(range(1, tb.nrows())))
    tb.close()

    # SPECTRAL_WINDOW: ALMA names and baseband numbers
    tb.open(ms + "/SPECTRAL_WINDOW", nomodify=False)
    if "BBC_NO" not in tb.colnames():
        tb.addcols({"BBC_NO": {"valueType": "int", "dataManagerType": "StandardStMan",
                               "dataManagerGroup": "StandardStMan", "option": 0, "maxlen": 0,
                               "comment": "Baseband converter number", "keywords": {}}})
    tb.putcol("BBC_NO", np.array([s["baseband"] for s in setup["spws"]], dtype=np.int32))
    tb.putcol("NAME", np.array([s["name"] for s in setup["spws"]]))
    for s in setup["spws"]:
        if not np.allclose(tb.getcell("CHAN_FREQ", s["id"]), s["freqs"], rtol=0, atol=1.0):
            raise RuntimeError(f"simulator channel frequencies of spw {s['id']} differ from the setup")
    tb.close()

    # STATE: one row per distinct OBS_MODE
    tb.open(ms + "/STATE", nomodify=False)
    if tb.nrows():
        tb.removerows(list(range(tb.nrows())))
    n = len(modes)
    tb.addrows(n)
    tb.putcol("OBS_MODE", np.array(modes))
    tb.putcol("SIG", np.ones(n, bool))
    tb.putcol("REF", np.zeros(n, bool))
    tb.putcol("CAL", np.zeros(n))
    tb.putcol("LOAD", np.zeros(n))
    tb.putcol("SUB_SCAN", np.ones(n, np.int32))
    tb.putcol("FLAG_ROW", np.zeros(n, bool))
    tb.close()

    # PROCESSOR: one correlator row (as in ALMA data)
    tb.open(ms + "/PROCESSOR", nomodify=False)
    if tb.nrows() == 0:
        tb.addrows(1)
    tb.putcell("TYPE", 0, "CORRELATOR")
    tb.putcell("SUB_TYPE", 0, "ALMA_CORRELATOR_MODE")
    tb.putcell("TYPE_ID", 0, 0)
    tb.putcell("MODE_ID", 0, 0)
    tb.putcell("FLAG_ROW", 0, False)
    tb.close()

    # POINTING: the simulator writes one row per antenna, time and observe call (i.e. per spw)
    tb.open(ms + "/POINTING", nomodify=False)
    if tb.nrows():
        key = np.stack([tb.getcol("ANTENNA_ID").astype(float), tb.getcol("TIME")], axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        dup = sorted(set(range(tb.nrows())) - set(first.tolist()))
        if dup:
            tb.removerows(dup)
    tb.close()

    # OBSERVATION: full time range
    tb.open(ms + "/OBSERVATION", nomodify=False)
    tb.putcell("TIME_RANGE", 0, np.array([setup["scans"][0]["start"], setup["scans"][-1]["end"]]))
    tb.putcell("TELESCOPE_NAME", 0, setup["params"].get("telescope", "ALMA"))
    tb.putcell("OBSERVER", 0, "simulate_eb")
    tb.putcell("PROJECT", 0, "demo")
    tb.putcell("SCHEDULE_TYPE", 0, "ALMA")
    tb.close()


def _nbaselines(setup: dict) -> int:
    n = len(setup["antennas"])
    return n * (n + 1) // 2  # cross + auto


# ----------------------------------------------------------------------------------------------
# 3. corruption model
# ----------------------------------------------------------------------------------------------
def _uniform(rng: np.random.Generator, lohi, size=None):
    lo, hi = (float(v) for v in lohi)
    return rng.uniform(lo, hi, size)


def _draw_corruptions(setup: dict) -> dict[str, Any]:
    """Draw gains, bandpasses, Tsys and the noise generator; all per EB seed."""
    p = setup["params"]
    rng = np.random.default_rng(setup["seed"])
    nant, npol = len(setup["antennas"]), setup["npol"]
    t_ref = setup["scans"][0]["start"]
    times = setup["times"]
    dt = times - t_ref

    # gains g[ant, pol, time]
    gp = p["gains"]
    amp0 = _uniform(rng, gp["amp_range"], (nant, npol))
    d_amp = rng.uniform(-1, 1, (nant, npol)) * float(gp["amp_drift_frac"])
    p_amp = _uniform(rng, gp["amp_drift_period_min"], (nant, npol)) * 60.0
    ph_amp = rng.uniform(0, 2 * np.pi, (nant, npol))
    amp = amp0[..., None] * (1 + d_amp[..., None] * np.sin(2 * np.pi * dt / p_amp[..., None] + ph_amp[..., None]))
    off = rng.uniform(-1, 1, (nant, npol)) * float(gp["phase_offset_deg"])
    phase = np.broadcast_to(off[..., None], (nant, npol, len(times))).copy()
    for _ in range(int(gp["phase_terms"])):
        a = _uniform(rng, gp["phase_term_amp_deg"], (nant, npol))
        per = _uniform(rng, gp["phase_term_period_min"], (nant, npol)) * 60.0
        ph = rng.uniform(0, 2 * np.pi, (nant, npol))
        phase += a[..., None] * np.sin(2 * np.pi * dt / per[..., None] + ph[..., None])
    phase = (phase + 180.0) % 360.0 - 180.0
    gains = amp * np.exp(1j * np.radians(phase))

    # bandpass B[spw][ant, pol, chan]
    bp = p["bandpass"]
    bandpass = {}
    for s in setup["spws"]:
        x = (s["freqs"] - s["centre"]) / (s["bandwidth"] / 2)
        bamp = np.ones((nant, npol, s["nchan"]))
        for _ in range(int(bp["amp_ripple_terms"])):
            a = _uniform(rng, bp["amp_ripple_frac"], (nant, npol, 1))
            c = _uniform(rng, bp["ripple_cycles"], (nant, npol, 1))
            ph = rng.uniform(0, 2 * np.pi, (nant, npol, 1))
            bamp += a * np.cos(np.pi * c * x + ph)
        slope = rng.uniform(-1, 1, (nant, npol, 1)) * float(bp["phase_slope_deg"]) / 2
        a = _uniform(rng, bp["phase_ripple_deg"], (nant, npol, 1))
        c = _uniform(rng, bp["ripple_cycles"], (nant, npol, 1))
        ph = rng.uniform(0, 2 * np.pi, (nant, npol, 1))
        bphase = slope * x + a * np.cos(np.pi * c * x + ph)
        bandpass[s["id"]] = {"amp": bamp, "phase_deg": bphase, "B": bamp * np.exp(1j * np.radians(bphase))}

    # Tsys[field][spw][ant, pol, chan] (elevation of the field at its first atm scan)
    tp = p["tsys"]
    nu0 = setup["nu0"]
    trx0 = _uniform(rng, tp["trx_k"], (nant, npol, 1))
    trx1 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_slope_k_per_ghz"])
    trx2 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_curv_k_per_ghz2"])
    elev = _field_elevations(setup)
    # Trx polynomial about the centre of the frequency coverage; tau about ref_freq_ghz
    fmin = min(s["freqs"][0] for s in setup["spws"])
    fmax = max(s["freqs"][-1] for s in setup["spws"])
    nu_c = (fmin + fmax) / 2
    tsys, trx_all, tsky_all = {}, {}, {}
    for f in setup["fields"]:
        airmass = 1.0 / math.sin(math.radians(elev[f["id"]]))
        tsys[f["id"]], trx_all[f["id"]], tsky_all[f["id"]] = {}, {}, {}
        for s in setup["spws"]:
            dnu = (s["freqs"] - nu_c) / 1e9
            trx = trx0 + trx1 * dnu + trx2 * dnu ** 2
            tau = float(tp["tau_zenith"]) + float(tp["tau_slope_per_ghz"]) * (s["freqs"] - nu0) / 1e9
            ext = np.exp(-tau * airmass)
            tsky = float(tp["t_atm_k"]) * (1 - ext)
            ts = (trx + tsky) / ext
            tsys[f["id"]][s["id"]] = ts
            trx_all[f["id"]][s["id"]] = np.broadcast_to(trx, ts.shape).copy()
            tsky_all[f["id"]][s["id"]] = np.broadcast_to(tsky, ts.shape).copy()
    return {"gains": gains, "gain_amp": amp, "gain_phase_deg": phase, "bandpass": bandpass,
            "tsys": tsys, "trx": trx_all, "tsky": tsky_all, "elevation_deg": elev,
            "noise_sigma": float(p["noise_sigma_jy"]), "rng": rng}


def _field_elevations(setup: dict) -> dict[int, float]:
    from casatools import measures, quanta

    me, qa = measures(), quanta()
    me.doframe(me.observatory("ALMA"))
    elev = {}
    for f in setup["fields"]:
        atm = [s for s in setup["scans"] if s["field_id"] == f["id"] and s["kind"] == "atm"][0]
        me.doframe(me.epoch("UTC", f"{(atm['start'] + atm['end']) / 2 / _DAY_S}d"))
        azel = me.measure(me.direction("J2000", f["ra"], f["dec"]), "AZEL")
        elev[f["id"]] = float(qa.convert(azel["m1"], "deg")["value"])
        if elev[f["id"]] < 15:
            raise ValueError(f"field {f['name']} at elevation {elev[f['id']]:.1f} deg: choose another start time")
    return elev


def _write_data(setup: dict, model: dict, ms: str) -> None:
    """Write DATA/FLAG/WEIGHT/SIGMA from the corruption model (rows grouped by spw)."""
    from casatools import table

    tb = table()
    tb.open(ms, nomodify=False)
    times_all = setup["times"]
    rng = model["rng"]
    sigma = model["noise_sigma"]
    for s in setup["spws"]:
        sub = tb.query(f"DATA_DESC_ID=={s['id']}")
        nrow = sub.nrows()
        if nrow == 0:
            sub.close()
            continue
        t = sub.getcol("TIME")
        a1 = sub.getcol("ANTENNA1")
        a2 = sub.getcol("ANTENNA2")
        f = sub.getcol("FIELD_ID")
        ti = np.clip(np.searchsorted(times_all, t - 1e-3), 0, len(times_all) - 1)
        if np.max(np.abs(times_all[ti] - t)) > 1e-3:
            raise RuntimeError("MS times do not match the scan timeline")
        g = model["gains"]  # [ant, pol, time]
        B = model["bandpass"][s["id"]]["B"]  # [ant, pol, chan]
        g1 = g[a1, :, ti].T[:, None, :]  # [pol, 1, row]
        g2 = g[a2, :, ti].T[:, None, :]
        B1 = np.transpose(B[a1], (1, 2, 0))  # [pol, chan, row]
        B2 = np.transpose(B[a2], (1, 2, 0))
        flux = np.zeros((s["nchan"], nrow))
        tsys1 = np.zeros((setup["npol"], s["nchan"], nrow))
        tsys2 = np.zeros_like(tsys1)
        for fld in setup["fields"]:
            sel = f == fld["id"]
            if not sel.any():
                continue
            flux[:, sel] = (fld["flux_jy"] * (s["freqs"] / setup["nu0"]) ** fld["spix"])[:, None]
            ts = model["tsys"][fld["id"]][s["id"]]  # [ant, pol, chan]
            tsys1[:, :, sel] = np.transpose(ts[a1[sel]], (1, 2, 0))
            tsys2[:, :, sel] = np.transpose(ts[a2[sel]], (1, 2, 0))
        shape = (setup["npol"], s["nchan"], nrow)
        noise = sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        cross = g1 * np.conj(g2) * B1 * np.conj(B2) * (flux[None, :, :] + noise) / np.sqrt(tsys1 * tsys2)
        auto = (np.abs(g1) ** 2 * np.abs(B1) ** 2).astype(complex)
        is_auto = (a1 == a2)[None, None, :]
        data = np.where(is_auto, auto, cross).astype(np.complex64)
        sub.putcol("DATA", data)
        sub.putcol("FLAG", np.zeros(shape, bool))
        sub.putcol("WEIGHT", np.ones((setup["npol"], nrow), np.float32))
        sub.putcol("SIGMA", np.ones((setup["npol"], nrow), np.float32))
        sub.putcol("FLAG_ROW", np.zeros(nrow, bool))
        sub.close()
    tb.close()


def _write_syscal(setup: dict, model: dict, ms: str) -> None:
    """Create MS/SYSCAL with Tsys/Trx/Tsky/Tcal spectra of the TDM spws at every atm scan."""
    from casatools import table

    tb = table()
    path = os.path.join(ms, "SYSCAL")

    def col(vtype, comment, ndim=0, units=None, measinfo=None):
        d = {"valueType": vtype, "dataManagerType": "StandardStMan", "dataManagerGroup": "StandardStMan",
             "option": 0, "maxlen": 0, "comment": comment, "keywords": {}}
        if ndim:
            d["ndim"] = ndim
        if units:
            d["keywords"]["QuantumUnits"] = np.array(units)
        if measinfo:
            d["keywords"]["MEASINFO"] = measinfo
        return d

    desc = {
        "ANTENNA_ID": col("int", "ID of antenna in this array"),
        "FEED_ID": col("int", "Feed id"),
        "SPECTRAL_WINDOW_ID": col("int", "ID for this spectral window setup"),
        "TIME": col("double", "Midpoint of time for which this set of parameters is accurate", units=["s"],
                    measinfo={"type": "epoch", "Ref": "UTC"}),
        "INTERVAL": col("double", "Interval for which this set of parameters is accurate", units=["s"]),
        "TCAL_FLAG": col("boolean", "Flag for TCAL"),
        "TCAL_SPECTRUM": col("float", "Calibration temp", ndim=2, units=["K"]),
        "TRX_FLAG": col("boolean", "Flag for TRX"),
        "TRX_SPECTRUM": col("float", "Receiver temperature", ndim=2, units=["K"]),
        "TSKY_FLAG": col("boolean", "Flag for TSKY"),
        "TSKY_SPECTRUM": col("float", "Sky temperature", ndim=2, units=["K"]),
        "TSYS_FLAG": col("boolean", "Flag for TSYS"),
        "TSYS_SPECTRUM": col("float", "System temp. for each of the two receptors", ndim=2, units=["K"]),
    }
    tb.create(path, desc)
    rows = []
    for sc in setup["scans"]:
        if sc["kind"] != "atm":
            continue
        for spw in sc["spws"]:
            for ia in range(len(setup["antennas"])):
                rows.append((sc, spw, ia))
    tb.addrows(len(rows))
    for r, (sc, spw, ia) in enumerate(rows):
        fid = sc["field_id"]
        tb.putcell("ANTENNA_ID", r, ia)
        tb.putcell("FEED_ID", r, 0)
        tb.putcell("SPECTRAL_WINDOW_ID", r, spw)
        tb.putcell("TIME", r, (sc["start"] + sc["end"]) / 2)
        tb.putcell("INTERVAL", r, sc["end"] - sc["start"])
        ts = model["tsys"][fid][spw][ia].astype(np.float32)
        for name, val in (("TSYS", ts), ("TRX", model["trx"][fid][spw][ia].astype(np.float32)),
                          ("TSKY", model["tsky"][fid][spw][ia].astype(np.float32)), ("TCAL", ts)):
            tb.putcell(f"{name}_SPECTRUM", r, val)
            tb.putcell(f"{name}_FLAG", r, False)
    tb.putinfo({"type": "SysCal", "subType": "", "readme": "simulated by simulate_eb.py"})
    tb.close()
    tb.open(ms, nomodify=False)
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(path))
    tb.close()
    setup["n_syscal"] = len(rows)


# ----------------------------------------------------------------------------------------------
# 4. export and repair the ASDM
# ----------------------------------------------------------------------------------------------
def _export_asdm(setup: dict, ms: str, asdm: str, work: str) -> None:
    from casatasks import exportasdm
    from casatools import table

    tb = table()
    # exportasdm starts a new ExecBlock (= one scan) whenever the duration given by the
    # OBSERVATION time range is reached; give every scan its own observation id.
    ms_exp = os.path.join(work, "export.ms")
    shutil.copytree(ms, ms_exp, symlinks=True)
    tb.open(ms_exp + "/OBSERVATION", nomodify=False)
    nscan = len(setup["scans"])
    tb.addrows(nscan - 1)
    for c in ("TELESCOPE_NAME", "OBSERVER", "PROJECT", "SCHEDULE_TYPE", "RELEASE_DATE", "FLAG_ROW"):
        v = tb.getcell(c, 0)
        for r in range(1, nscan):
            tb.putcell(c, r, v)
    for sc in setup["scans"]:
        # end beyond the last integration: exportasdm closes an ExecBlock as soon as a row reaches
        # the end, which would cut the last timestamp's second spw into a new ExecBlock
        tb.putcell("TIME_RANGE", sc["scan"] - 1, np.array([sc["start"], sc["end"] + 2 * setup["tint"]]))
    tb.close()
    tb.open(ms_exp, nomodify=False)
    tb.putcol("OBSERVATION_ID", tb.getcol("SCAN_NUMBER") - 1)
    # SYSCAL keyword must point into the copy
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(os.path.join(ms_exp, "SYSCAL")))
    tb.close()

    # a distinct (valid, hexadecimal) ASDM/ExecBlock UID per EB: uid://A002/X<hash>/X1
    rangeid = "X" + hashlib.sha1(setup["eb"].encode()).hexdigest()[:6]
    ok = exportasdm(vis=ms_exp, asdm=asdm, datacolumn="DATA", archiveid="A002", rangeid=rangeid,
                    subscanduration="24h", sbduration="86400s", apcorrected=False, verbose=False)
    if ok is False or not os.path.exists(os.path.join(asdm, "Main.xml")):
        raise RuntimeError(f"exportasdm failed for {ms_exp} (see {setup['eb']} log)")
    shutil.rmtree(ms_exp)
    _repair_asdm(setup, asdm)


# ---- minimal text-preserving editing of ASDM XML tables (the ASDM parser is format sensitive)
_ROW_RE = re.compile(r"<row>.*?</row>", re.S)


def _xml_rows(text: str) -> list[str]:
    return _ROW_RE.findall(text)


def _xml_get(row: str, tag: str) -> str:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", row, re.S)
    if m is None:
        raise KeyError(tag)
    return m.group(1).strip()


def _xml_set(row: str, tag: str, value: str) -> str:
    new, n = re.subn(rf"<{tag}>.*?</{tag}>", lambda _m: f"<{tag}> {value} </{tag}>", row, count=1, flags=re.S)
    if n != 1:
        raise KeyError(tag)
    return new


def _xml_replace_rows(text: str, rows: list[str]) -> str:
    first = text.find("<row>")
    last = text.rfind("</row>") + len("</row>")
    if first < 0:
        raise RuntimeError("XML table without rows")
    return text[:first] + "\n  ".join(rows) + text[last:]


def _read(path: str) -> str:
    with open(path, encoding="ISO-8859-1") as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ISO-8859-1") as fh:
        fh.write(text)


def _set_numrows(asdm: str, table: str, n: int) -> None:
    path = os.path.join(asdm, "ASDM.xml")
    text = _read(path)
    text, k = re.subn(rf"(<Name> {table} </Name> <NumberRows> )\d+( </NumberRows>)", rf"\g<1>{n}\g<2>", text)
    if k != 1:
        raise RuntimeError(f"ASDM.xml: table {table} not found")
    _write(path, text)


def _repair_asdm(setup: dict, asdm: str) -> None:
    """One ExecBlock holding scans 1..N with the real intents; one Subscan per scan."""
    scans = setup["scans"]

    # ---- ExecBlock / SBSummary: exportasdm wrote one per scan (by time order)
    eb_text = _read(os.path.join(asdm, "ExecBlock.xml"))
    eb_rows = _xml_rows(eb_text)
    if len(eb_rows) != len(scans):
        raise RuntimeError(f"exportasdm wrote {len(eb_rows)} ExecBlocks, expected one per scan ({len(scans)})")
    eb_rows.sort(key=lambda r: int(_xml_get(r, "startTime")))
    eb_ids = [_xml_get(r, "execBlockId") for r in eb_rows]
    scan_of_eb = {e: i + 1 for i, e in enumerate(eb_ids)}
    keep = eb_rows[0]
    keep_id = eb_ids[0]
    sbs_id = _xml_get(keep, "sBSummaryId")
    keep = _xml_set(keep, "endTime", _xml_get(eb_rows[-1], "endTime"))
    keep = _xml_set(keep, "execBlockNum", "1")
    keep = _xml_set(keep, "baseRangeMin", str(min(float(_xml_get(r, "baseRangeMin")) for r in eb_rows)))
    keep = _xml_set(keep, "baseRangeMax", str(max(float(_xml_get(r, "baseRangeMax")) for r in eb_rows)))
    keep = _xml_set(keep, "configName", setup["params"]["array_config"].replace(".cfg", ""))
    keep = _xml_set(keep, "observerName", "simulate_eb")
    _write(os.path.join(asdm, "ExecBlock.xml"), _xml_replace_rows(eb_text, [keep]))
    _set_numrows(asdm, "ExecBlock", 1)

    sb_text = _read(os.path.join(asdm, "SBSummary.xml"))
    sb_rows = [r for r in _xml_rows(sb_text) if _xml_get(r, "sBSummaryId") == sbs_id]
    if len(sb_rows) != 1:
        raise RuntimeError("SBSummary row of the first ExecBlock not found")
    dur = int(_xml_get(eb_rows[-1], "endTime")) - int(_xml_get(eb_rows[0], "startTime"))
    sb_row = _xml_set(sb_rows[0], "sbDuration", str(dur))
    _write(os.path.join(asdm, "SBSummary.xml"), _xml_replace_rows(sb_text, [sb_row]))
    _set_numrows(asdm, "SBSummary", 1)

    # ---- Main: scan number from the ExecBlock, one subscan per scan
    main_text = _read(os.path.join(asdm, "Main.xml"))
    main_rows = []
    bdf_paths = {}
    nint_of_scan: dict[int, set] = {}
    for r in _xml_rows(main_text):
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "subscanNumber", "1")
        r = _xml_set(r, "execBlockId", keep_id)
        uid = re.search(r'entityId="([^"]+)"', r.split("<dataUID>")[1]).group(1)
        bdf_paths[uid] = f"1/{k}/1/"
        nint_of_scan.setdefault(k, set()).add(int(_xml_get(r, "numIntegration")))
        main_rows.append(r)
    _write(os.path.join(asdm, "Main.xml"), _xml_replace_rows(main_text, main_rows))

    # ---- Scan
    scan_text = _read(os.path.join(asdm, "Scan.xml"))
    srows = _xml_rows(scan_text)
    if len(srows) != len(scans):
        raise RuntimeError(f"exportasdm wrote {len(srows)} scans, expected {len(scans)}")
    new_scans = []
    for r in srows:
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        sc = scans[k - 1]
        n = len(sc["intents"])
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "execBlockId", keep_id)
        r = _xml_set(r, "numIntent", str(n))
        r = _xml_set(r, "numSubscan", "1")
        r = _xml_set(r, "scanIntent", f"1 {n} " + " ".join(sc["intents"]))
        r = _xml_set(r, "calDataType", f"1 {n} " + " ".join(["FULL_RESOLUTION_CROSS"] * n))
        r = _xml_set(r, "calibrationOnLine", f"1 {n} " + " ".join(["false"] * n))
        new_scans.append((k, r))
    new_scans.sort()
    _write(os.path.join(asdm, "Scan.xml"), _xml_replace_rows(scan_text, [r for _, r in new_scans]))

    # ---- Subscan: merge the per-spw subscans of each scan
    sub_text = _read(os.path.join(asdm, "Subscan.xml"))
    merged: dict[int, str] = {}
    for r in _xml_rows(sub_text):
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        if k in merged:
            m = merged[k]
            m = _xml_set(m, "startTime", str(min(int(_xml_get(m, "startTime")), int(_xml_get(r, "startTime")))))
            m = _xml_set(m, "endTime", str(max(int(_xml_get(m, "endTime")), int(_xml_get(r, "endTime")))))
            merged[k] = m
        else:
            r = _xml_set(r, "scanNumber", str(k))
            r = _xml_set(r, "subscanNumber", "1")
            r = _xml_set(r, "execBlockId", keep_id)
            merged[k] = r
    sub_rows = []
    for k in sorted(merged):
        nint = nint_of_scan[k]
        if len(nint) != 1 or nint != {scans[k - 1]["nint"]}:
            raise RuntimeError(f"scan {k}: integrations per Main row {nint} != {scans[k - 1]['nint']}")
        n = scans[k - 1]["nint"]
        r = _xml_set(merged[k], "numIntegration", str(n))
        r = _xml_set(r, "numSubintegration", f"1 {n} " + " ".join(["0"] * n))
        r = _xml_set(r, "subscanIntent", "ON_SOURCE")
        sub_rows.append(r)
    _write(os.path.join(asdm, "Subscan.xml"), _xml_replace_rows(sub_text, sub_rows))
    _set_numrows(asdm, "Subscan", len(sub_rows))

    # ---- BDF headers: projectPath execBlockNum/scanNum/subscanNum
    bindir = os.path.join(asdm, "ASDMBinary")
    for uid, newpath in bdf_paths.items():
        fn = os.path.join(bindir, uid.replace(":", "_").replace("/", "_"))
        with open(fn, "rb") as fh:
            blob = fh.read()
        m = re.search(rb'projectPath="(\d+/\d+/\d+/)"', blob)
        if m is None:
            raise RuntimeError(f"no projectPath in BDF {fn}")
        old = m.group(1)
        new = newpath.encode()
        # replace in the global header and in every integration path "old<n>/"
        blob = blob.replace(b'projectPath="' + old + b'"', b'projectPath="' + new + b'"')
        blob = re.sub(rb"(Content-Location: |projectPath=\"|xlink:href= \")" + re.escape(old),
                      lambda mm: mm.group(1) + new, blob)
        blob = _strip_bdf_flags(blob, fn)
        with open(fn, "wb") as fh:
            fh.write(blob)

    # ---- spectral window names (exportasdm does not write them; importasdm reads <name>)
    spw_text = _read(os.path.join(asdm, "SpectralWindow.xml"))
    spw_rows = _xml_rows(spw_text)
    if len(spw_rows) != len(setup["spws"]):
        raise RuntimeError("SpectralWindow.xml: unexpected number of rows")
    spw_rows = [r.replace("</row>", f"<name> {s['name']} </name> </row>") if "<name>" not in r else r
                for r, s in zip(spw_rows, setup["spws"])]
    _write(os.path.join(asdm, "SpectralWindow.xml"), _xml_replace_rows(spw_text, spw_rows))

    # ---- online flags (Flag.xml): real ASDMs always have this table
    _write_flag_table(setup, asdm)

    # ---- reproducible ASDM.xml: creation time = end of the EB instead of the wall clock
    end = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=scans[-1]["end"])
    asdm_xml = _read(os.path.join(asdm, "ASDM.xml"))
    asdm_xml = re.sub(r"<TimeOfCreation>.*?</TimeOfCreation>",
                      f"<TimeOfCreation> {end.strftime('%Y-%m-%dT%H:%M:%S')}.000000000 </TimeOfCreation>", asdm_xml)
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)


_FLAGS_PART = re.compile(rb"--MIME_boundary-2\nContent-Type: binary/octet-stream\n"
                         rb"Content-Location: [^\n]*flags\.bin\n\n\x00*\n(?=--MIME_boundary-2)")


def _strip_bdf_flags(blob: bytes, name: str) -> bytes:
    """Remove the (all-zero, per channel) BDF flags written by exportasdm: ~35% of the volume.

    The flags attachment is optional in the BDF format; the ALMA correlator writes a much smaller
    one (no spectral axis). Without it importasdm(bdfflags=True) finds nothing to flag."""
    nint = len(re.findall(rb"<sdmDataSubsetHeader", blob))
    blob, n1 = _FLAGS_PART.subn(b"", blob)
    blob, n2 = re.subn(rb'<flags xlink:href= "[^"]*"/>\n', b"", blob)
    blob, n3 = re.subn(rb'<flags size="\d+" axes="[A-Z ]+"/>\n', b"", blob, count=1)
    if not (n1 == n2 == nint and n3 == 1):
        raise RuntimeError(f"{name}: unexpected BDF flag layout ({n1}, {n2}, {n3}, {nint} integrations)")
    return blob


def _write_flag_table(setup: dict, asdm: str) -> None:
    """Write Flag.xml with the online flags of params['online_flags'] (may be empty)."""
    asdm_xml = _read(os.path.join(asdm, "ASDM.xml"))
    container = re.search(r'<Entity entityId="([^"]+)"', asdm_xml).group(1)
    entity = container + "ff"  # a new, valid uid in the range of the ASDM (uid://A002/X<hash>/X1ff)
    ant_xml = _read(os.path.join(asdm, "Antenna.xml"))
    ant_tag = {_xml_get(r, "name"): _xml_get(r, "antennaId") for r in _xml_rows(ant_xml)}
    rows = []
    for k, fl in enumerate(setup["online_flags"]):
        rows.append(
            f"<row> \n<flagId> Flag_{k} </flagId> <startTime> {int(round(fl['start'] * 1e9))} </startTime> "
            f"<endTime> {int(round(fl['end'] * 1e9))} </endTime> <reason> {fl['reason']} </reason> "
            f"<numAntenna> 1 </numAntenna> <antennaId> 1 1 {ant_tag[fl['antenna']]} </antennaId> "
            "<numPolarizationType> 0 </numPolarizationType> <numSpectralWindow> 0 </numSpectralWindow> "
            "<numPairedAntenna> 0 </numPairedAntenna> </row>")
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?> <FlagTable xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:flag="http://Alma/XASDM/FlagTable" xsi:schemaLocation="http://Alma/XASDM/FlagTable '
        'http://almaobservatory.org/XML/XASDM/4/FlagTable.xsd" schemaVersion="4" schemaRevision="-1">\n'
        f'<Entity entityId="{entity}" entityIdEncrypted="na" entityTypeName="FlagTable" schemaVersion="1" '
        'documentVersion="1"/>'
        f'<ContainerEntity entityId="{container}" entityIdEncrypted="na" entityTypeName="ASDM" schemaVersion="1" '
        'documentVersion="1"/> ' + "\n  ".join(rows) + "\n  </FlagTable> \n"
    )
    _write(os.path.join(asdm, "Flag.xml"), text)
    new_entry = (f"<Table> <Name> Flag </Name> <NumberRows> {len(rows)} </NumberRows> "
                 f'<Entity entityId="{entity}" entityIdEncrypted="na" entityTypeName="FlagTable" '
                 'schemaVersion="1" documentVersion="1"/> </Table>')
    asdm_xml, n = re.subn(r"<Table> <Name> Flag </Name> <NumberRows> \d+ </NumberRows>.*?</Table>",
                          lambda _m: new_entry, asdm_xml, count=1, flags=re.S)
    if n != 1:
        raise RuntimeError("ASDM.xml: no Flag table entry")
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)


# ----------------------------------------------------------------------------------------------
# 5. verification by re-import
# ----------------------------------------------------------------------------------------------
def _ms_summary(ms: str) -> dict[str, Any]:
    from casatools import msmetadata, table

    msmd = msmetadata()
    tb = table()
    msmd.open(ms)
    try:
        scans = [int(s) for s in msmd.scannumbers()]
        out: dict[str, Any] = {"scans": scans, "nrows": int(msmd.nrows()), "per_scan": {}}
        for s in scans:
            out["per_scan"][s] = {
                "fields": sorted(int(f) for f in msmd.fieldsforscan(s)),
                "spws": sorted(int(w) for w in msmd.spwsforscan(s)),
                "intents": sorted(msmd.intentsforscan(s)),
            }
        out["field_names"] = [str(n) for n in msmd.fieldnames()]
        out["antenna_names"] = [str(n) for n in msmd.antennanames()]
    finally:
        msmd.close()
    tb.open(ms)
    a1, a2, scan = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("SCAN_NUMBER")
    out["n_auto"] = int(np.sum(a1 == a2))
    for s in out["scans"]:
        out["per_scan"][s]["nrows"] = int(np.sum(scan == s))
    tb.close()
    tb.open(ms + "/SPECTRAL_WINDOW")
    out["bbc_no"] = [int(v) for v in tb.getcol("BBC_NO")] if "BBC_NO" in tb.colnames() else None
    out["spw_names"] = [str(n) for n in tb.getcol("NAME")]
    out["chan_freq"] = [tb.getcell("CHAN_FREQ", r) for r in range(tb.nrows())]
    tb.close()
    tb.open(ms + "/ANTENNA")
    out["positions"] = tb.getcol("POSITION").T
    tb.close()
    if "SYSCAL" in _keywords(ms):
        tb.open(ms + "/SYSCAL")
        out["syscal_rows"] = int(tb.nrows())
        out["syscal"] = {(int(a), int(w), round(float(t), 3)): tb.getcell("TSYS_SPECTRUM", r)
                         for r, (a, w, t) in enumerate(zip(tb.getcol("ANTENNA_ID"), tb.getcol("SPECTRAL_WINDOW_ID"),
                                                           tb.getcol("TIME")))}
        tb.close()
    else:
        out["syscal_rows"] = 0
        out["syscal"] = {}
    return out


def _keywords(ms: str) -> list[str]:
    from casatools import table

    tb = table()
    tb.open(ms)
    k = list(tb.keywordnames())
    tb.close()
    return k


def _read_vis(ms: str) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """DATA per spw, rows sorted by (TIME, ANTENNA1, ANTENNA2); also returns FLAG any()."""
    from casatools import table

    tb = table()
    tb.open(ms + "/DATA_DESCRIPTION")
    dd_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(ms)
    out = {}
    anyflag = False
    for dd, spw in enumerate(dd_spw):
        q = tb.query(f"DATA_DESC_ID=={dd}", sortlist="TIME,ANTENNA1,ANTENNA2")
        if q.nrows():
            out[int(spw)] = {"time": q.getcol("TIME"), "a1": q.getcol("ANTENNA1"), "a2": q.getcol("ANTENNA2"),
                             "data": q.getcol("DATA")}
            anyflag = anyflag or bool(q.getcol("FLAG").any())
        q.close()
    tb.close()
    return anyflag, out


def _verify_asdm(setup: dict, model: dict, ms: str, asdm: str, work: str) -> None:
    """Re-import the ASDM and compare it with the simulated MS; raise RuntimeError on mismatch."""
    from casatasks import casalog, gencal, importasdm
    from casatools import table

    vis = os.path.join(work, "verify.ms")
    flagfile = os.path.join(work, "verify.flagonline.txt")
    importasdm(asdm=asdm, vis=vis, savecmds=True, outfile=flagfile, overwrite=True)
    if not os.path.isdir(vis):
        raise RuntimeError(f"importasdm did not produce {vis}")
    problems: list[str] = []

    ref = _ms_summary(ms)
    imp = _ms_summary(vis)
    for key in ("scans", "nrows", "n_auto", "field_names", "antenna_names", "bbc_no", "spw_names", "syscal_rows"):
        if ref[key] != imp[key]:
            problems.append(f"{key}: written {ref[key]} != imported {imp[key]}")
    if ref["scans"] != list(range(1, len(setup["scans"]) + 1)):
        problems.append(f"scan numbers {ref['scans']} are not 1..{len(setup['scans'])}")
    for s in ref["scans"]:
        if s in imp["per_scan"] and ref["per_scan"][s] != imp["per_scan"][s]:
            problems.append(f"scan {s}: written {ref['per_scan'][s]} != imported {imp['per_scan'].get(s)}")
        sc = setup["scans"][s - 1]
        want = {"fields": [sc["field_id"]], "spws": sorted(sc["spws"]),
                "intents": sorted(f"{i}#ON_SOURCE" for i in sc["intents"]),
                "nrows": sc["nint"] * len(sc["spws"]) * _nbaselines(setup)}
        if ref["per_scan"][s] != want:
            problems.append(f"scan {s}: MS has {ref['per_scan'][s]}, setup wants {want}")
    if ref["n_auto"] == 0:
        problems.append("no autocorrelations")
    if imp["bbc_no"] != [s["baseband"] for s in setup["spws"]]:
        problems.append(f"BBC_NO {imp['bbc_no']} != basebands of the setup")
    for w, (f0, f1) in enumerate(zip(ref["chan_freq"], imp["chan_freq"])):
        if f0.shape != f1.shape or np.max(np.abs(f0 - f1)) > 1.0:
            problems.append(f"spw {w}: channel frequencies changed")
    if np.max(np.abs(ref["positions"] - imp["positions"])) > 1e-4:
        problems.append("antenna positions changed")
    if set(ref["syscal"]) != set(imp["syscal"]):
        problems.append("SYSCAL antenna/spw/time keys differ")
    else:
        for k, v in ref["syscal"].items():
            if v.shape != imp["syscal"][k].shape or np.max(np.abs(v - imp["syscal"][k])) > 1e-3:
                problems.append(f"SYSCAL TSYS_SPECTRUM differs for (ant, spw, time) {k}")
                break

    # visibilities (cross and auto), to float32 precision
    rtol = float(setup["params"].get("verify_rtol", 1e-5))
    flag_ref, vref = _read_vis(ms)
    flag_imp, vimp = _read_vis(vis)
    if flag_imp:
        problems.append("imported MS has flagged data (FLAG column)")
    if sorted(vref) != sorted(vimp):
        problems.append(f"spws with data: written {sorted(vref)} != imported {sorted(vimp)}")
    for spw in vref:
        if spw not in vimp:
            continue
        r, i = vref[spw], vimp[spw]
        if r["data"].shape != i["data"].shape:
            problems.append(f"spw {spw}: DATA shape {r['data'].shape} != imported {i['data'].shape}")
            continue
        if (np.max(np.abs(r["time"] - i["time"])) > 1e-3 or not np.array_equal(r["a1"], i["a1"])
                or not np.array_equal(r["a2"], i["a2"])):
            problems.append(f"spw {spw}: row metadata (TIME/ANTENNA1/ANTENNA2) differ")
            continue
        scale = np.max(np.abs(r["data"]))
        err = np.max(np.abs(r["data"] - i["data"])) / scale
        errc = np.max(np.abs(np.conj(r["data"]) - i["data"])) / scale
        casalog.post(f"verify spw {spw}: max |imported - written| / max|written| = {err:.2e} "
                     f"(conjugated: {errc:.2e})", "INFO")
        if err > rtol:
            hint = " (the round trip conjugates the data)" if errc <= rtol else ""
            problems.append(f"spw {spw}: DATA differs after the round trip, rel. error {err:.2e}{hint}")

    # online flags
    nflags = len(setup["online_flags"])
    if nflags:
        if not os.path.exists(flagfile):
            problems.append("importasdm wrote no online flag commands")
        else:
            with open(flagfile) as fh:
                ncmd = sum(1 for line in fh if line.strip())
            if ncmd != nflags:
                problems.append(f"{ncmd} online flag commands, expected {nflags}")

    # gencal(caltype='tsys') must read the imported SYSCAL and give the true Tsys per field
    caltable = os.path.join(work, "verify.tsys")
    gencal(vis=vis, caltable=caltable, caltype="tsys")
    tb = table()
    tb.open(caltable)
    fp, fld, spw, ant = (tb.getcol("FPARAM"), tb.getcol("FIELD_ID"), tb.getcol("SPECTRAL_WINDOW_ID"),
                         tb.getcol("ANTENNA1"))
    tb.close()
    if fp.shape[2] != setup["n_syscal"]:
        problems.append(f"gencal tsys: {fp.shape[2]} solutions, expected {setup['n_syscal']}")
    else:
        worst = 0.0
        for r in range(fp.shape[2]):
            true = model["tsys"][int(fld[r])][int(spw[r])][int(ant[r])]
            worst = max(worst, float(np.max(np.abs(fp[:, :, r] - true) / true)))
        casalog.post(f"verify gencal tsys: max relative error vs truth {worst:.2e}", "INFO")
        if worst > 1e-5:
            problems.append(f"gencal tsys differs from the true Tsys (rel. error {worst:.2e}; wrong field?)")

    if problems:
        raise RuntimeError(f"ASDM verification failed for {setup['eb']}:\n  " + "\n  ".join(problems))
    shutil.rmtree(vis, ignore_errors=True)
    shutil.rmtree(vis + ".flagversions", ignore_errors=True)
    shutil.rmtree(caltable, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# 6. truth and antenna positions
# ----------------------------------------------------------------------------------------------
def _r(a, digits: int = 7):
    """Nested lists with limited significant digits (keeps the JSON small)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(np.asarray(a)).tolist()


def _write_truth(setup: dict, model: dict, path: str) -> None:
    p = setup["params"]
    pols = [c[0] for c in setup["corr"]]
    tsys_out: dict[str, Any] = {}
    for f in setup["fields"]:
        atm = [s for s in setup["scans"] if s["field_id"] == f["id"] and s["kind"] == "atm"]
        tsys_out[f["name"]] = {
            "field_id": f["id"],
            "elevation_deg": round(model["elevation_deg"][f["id"]], 4),
            "atm_scans": [s["scan"] for s in atm],
            "spw": {str(s["id"]): _r(model["tsys"][f["id"]][s["id"]]) for s in setup["spws"]},
        }
    truth = {
        "schema_version": 1,
        "eb": setup["eb"],
        "mous": p.get("mous"),
        "seed": int(p["seed"]),
        "seed_offset": int(setup["ebp"]["seed_offset"]),
        "rng_seed": setup["seed"],
        "model": _MODEL_TEXT,
        "start_utc": str(setup["ebp"]["start_utc"]),
        "integration_s": setup["tint"],
        "noise_sigma_jy": model["noise_sigma"],
        "nu0_hz": setup["nu0"],
        "correlations": setup["corr"],
        "antennas": [{"id": i, "name": a["name"], "station": a["pad"], "position_itrf_m": list(a["itrf"]),
                      "dish_diameter_m": float(p["dish_diameter_m"])} for i, a in enumerate(setup["antennas"])],
        "fields": [{"id": f["id"], "name": f["name"], "role": f["role"], "ra": f["ra"], "dec": f["dec"],
                    "intents": [f"{i}#ON_SOURCE" for i in f["intents"]], "S0_jy": f["flux_jy"], "spix": f["spix"],
                    "nu0_hz": setup["nu0"]} for f in setup["fields"]],
        "spws": [{"id": s["id"], "name": s["name"], "type": s["type"], "baseband": s["baseband"],
                  "nchan": s["nchan"], "chan_width_hz": s["width"], "chan_freq_hz": s["freqs"].tolist()}
                 for s in setup["spws"]],
        "scans": [{"scan": s["scan"], "field": s["field"], "field_id": s["field_id"],
                   "intents": [f"{i}#ON_SOURCE" for i in s["intents"]], "spws": s["spws"],
                   "start_mjd_s": s["start"], "end_mjd_s": s["end"], "n_integrations": s["nint"]}
                  for s in setup["scans"]],
        "online_flags": [{"antenna": f["antenna"], "scan": f["scan"], "start_mjd_s": f["start"],
                          "end_mjd_s": f["end"], "reason": f["reason"]} for f in setup["online_flags"]],
        "gains": {
            "description": "g[ant][pol][time] = amp * exp(1j*radians(phase_deg)); time = MS TIME (MJD s, UTC)",
            "pols": pols,
            "times_mjd_s": setup["times"].tolist(),
            "amp": _r(model["gain_amp"]),
            "phase_deg": _r(model["gain_phase_deg"]),
        },
        "bandpass": {
            "description": "B[spw][ant][pol][chan] = amp * exp(1j*radians(phase_deg)), at spws[].chan_freq_hz",
            "spw": {str(s["id"]): {"amp": _r(model["bandpass"][s["id"]]["amp"]),
                                   "phase_deg": _r(model["bandpass"][s["id"]]["phase_deg"])}
                    for s in setup["spws"]},
        },
        "tsys": {
            "description": "Tsys[field][spw][ant][pol][chan] in K at spws[].chan_freq_hz, constant in time; "
                           "TDM values are in SYSCAL at the field's atm scans",
            "field": tsys_out,
        },
    }
    with open(path, "w") as fh:
        json.dump(truth, fh, indent=1)


def _write_antpos(setup: dict, path: str, outfile: str) -> None:
    """Antenna positions as returned by ALMA's position service (task getantposalma)."""
    data = {a["name"]: [float(v) for v in a["itrf"]] for a in setup["antennas"]}
    meta = {
        "caltype": "ALMA antenna positions",
        "description": "ALMA ITRF antenna positions in meters",
        "product_code": "antposalma",
        "outfile": outfile,
        "hosts": ["simulated"],
        "asdm": setup["eb"].replace("___", "://").replace("_", "/"),
        "search": "both_latest",
        "successful_url": "simulated by workflow/scripts/simulate_eb.py (true positions, no error injected)",
        "timestamp": str(setup["ebp"]["start_utc"]).replace("T", " "),
    }
    with open(path, "w") as fh:
        json.dump({"data": data, "metadata": meta}, fh, indent=1)


if "snakemake" in globals():
    import yaml

    with open(snakemake.input.parameters) as stream:  # noqa: F821
        demo = yaml.safe_load(stream)
    simulate_eb(params=demo, eb=snakemake.wildcards.eb, asdm=snakemake.output.asdm,  # noqa: F821
                truth=snakemake.output.truth, antpos_json=snakemake.output.antpos, log=snakemake.log[0])  # noqa: F821
