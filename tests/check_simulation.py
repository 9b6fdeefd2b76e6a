#!/usr/bin/env python
"""Quick standalone check of workflow/scripts/simulate_eb.py (not a pytest module).

Simulates the demo EBs of resources/demo_mous.yaml into a scratch directory (simulate_eb itself
re-imports each ASDM and verifies scans, intents, spws, SYSCAL, BBC_NO, autocorrelations and every
visibility), then, on the re-imported MS of each EB:

* checks the sizes of the outputs and the keys of the truth JSON,
* runs gencal(caltype='antpos', infile=<antpos json>) (true positions: the offsets must undo the
  injected position errors of the truth file),
* checks the WVR window (12 m EBs with WVR): 4 channels, RADIOMETER processor, autocorrelations only,
* does a by-hand Tsys calibration: gencal(caltype='tsys') + applycal(spwmap=[0,0,2,2],
  gainfield=<same field>) and checks that CORRECTED / (g_i g_j* B_i B_j* S) has amplitude ~1 and
  phase ~0 with the truth file's gains, bandpasses and fluxes (i.e. CASA multiplies the data by
  sqrt(Tsys_i Tsys_j), which removes the 1/sqrt(Tsys_i Tsys_j) of the model); the model includes
  the injected excess-path phases (wet path and antenna-position errors) of the truth file.

Usage (from the repository root):
    CASASITECONFIG=$PWD/envs/casasiteconfig.py .venv/bin/python tests/check_simulation.py [--keep DIR] [EB ...]
Exit status 0 if everything passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from truth import normalisation_depression, source_spectrum  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("CASASITECONFIG", os.path.join(ROOT, "envs", "casasiteconfig.py"))

MAX_ASDM_BYTES = 20_000_000
TRUTH_KEYS = {"schema_version", "eb", "seed", "rng_seed", "model", "antennas", "fields", "spws", "scans", "gains",
              "bandpass", "tsys", "noise_sigma_jy", "online_flags", "wet_path", "antenna_positions", "atmosphere"}


def load_simulate_eb():
    spec = importlib.util.spec_from_file_location("simulate_eb", os.path.join(ROOT, "workflow", "scripts",
                                                                              "simulate_eb.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def model_vis(truth: dict, spw: int, a1, a2, t, fld) -> np.ndarray:
    """g_i g_j* B_i B_j* S for rows (a1, a2, t, field): shape [pol, chan, row]."""
    g = np.array(truth["gains"]["amp"]) * np.exp(1j * np.radians(truth["gains"]["phase_deg"]))
    times = np.array(truth["gains"]["times_mjd_s"])
    ti = np.searchsorted(times, t - 1e-3)
    assert np.max(np.abs(times[ti] - t)) < 1e-3
    bp = truth["bandpass"]["spw"][str(spw)]
    b = np.array(bp["amp"]) * np.exp(1j * np.radians(bp["phase_deg"]))
    nu = np.array(truth["spws"][spw]["chan_freq_hz"])
    # a solar-system body's spectrum is CASA's model (not in the truth per baseline): skipped
    flux = np.array([source_spectrum(f, nu) if f["S0_jy"] is not None else np.full(nu.size, np.nan)
                     for f in truth["fields"]])  # [field, chan]
    gi = g[a1, :, ti].T[:, None, :]
    gj = g[a2, :, ti].T[:, None, :]
    bi = np.transpose(b[a1], (1, 2, 0))
    bj = np.transpose(b[a2], (1, 2, 0))
    # excess path (wet path with its dispersive part, antenna-position errors): [ant, time, chan]
    wet = truth["wet_path"]
    path = (np.array(wet["path_m"])[:, :, None] * np.array(wet["dispersive_ratio"][str(spw)])[None, None, :]
            + np.array(truth["antenna_positions"]["path_error_m"])[:, :, None])
    atm = np.exp(1j * wet["phase_sign"] * 2 * np.pi * nu[:, None] / 299792458.0 * (path[a1, ti] - path[a2, ti]).T)
    depression = np.ones((len(a1), len(nu), gi.shape[0]))
    for f in truth["fields"]:
        sel = fld == f["id"]
        depression[sel] = normalisation_depression(truth, f, spw, a1[sel], a2[sel])
    return gi * np.conj(gj) * bi * np.conj(bj) * atm[None] * flux[fld].T[None] * np.transpose(depression, (2, 1, 0))


def check_eb(eb: str, outdir: str, failures: list[str]) -> None:
    from casatasks import applycal, casalog, gencal, importasdm
    from casatools import table

    asdm = os.path.join(outdir, eb)
    truth_file = os.path.join(outdir, f"{eb}.truth.json")
    antpos_file = os.path.join(outdir, f"{eb}.antpos.json")
    size = du(asdm)
    print(f"[{eb}] ASDM {size / 1e6:.1f} MB, truth {du(truth_file) / 1e6:.2f} MB")
    if size > MAX_ASDM_BYTES:
        failures.append(f"{eb}: ASDM too large ({size} bytes)")
    with open(truth_file) as fh:
        truth = json.load(fh)
    missing = TRUTH_KEYS - set(truth)
    if missing:
        failures.append(f"{eb}: truth JSON misses {sorted(missing)}")
    with open(antpos_file) as fh:
        antpos = json.load(fh)
    if antpos["metadata"]["product_code"] != "antposalma" or set(antpos["data"]) != {
            a["name"] for a in truth["antennas"]}:
        failures.append(f"{eb}: antenna position JSON malformed")

    work = tempfile.mkdtemp(prefix=f"check_{eb}_", dir=outdir)
    casalog.setlogfile(os.path.join(work, "casa.log"))
    vis = os.path.join(work, f"{eb}.ms")
    importasdm(asdm=asdm, vis=vis)

    # antenna positions: gencal accepts the file; its offsets (true - online) undo the injected errors
    gencal(vis=vis, caltable=os.path.join(work, "antpos.cal"), caltype="antpos", infile=antpos_file)
    tb = table()
    tb.open(os.path.join(work, "antpos.cal"))
    fpar, ants = tb.getcol("FPARAM")[:, 0, :], tb.getcol("ANTENNA1")
    tb.close()
    want = np.array([[-v for v in truth["antennas"][a]["position_error_m"]] for a in ants]).T
    err = np.abs(fpar - want).max() if ants.size else 0.0
    print(f"[{eb}] gencal antpos: {len(antpos['data'])} antennas, offsets {np.abs(fpar).max() if ants.size else 0:.2e} m "
          f"max, max |offset + injected error| = {err:.2e} m")
    if err > 1e-6:
        failures.append(f"{eb}: antenna position offsets do not undo the injected errors")
    # WVR window: ALMA radiometer data (4 channels, RADIOMETER processor, autocorrelations only)
    wvr = [s for s in truth["spws"] if s["type"] == "WVR"]
    if truth.get("has_wvr") != bool(wvr):
        failures.append(f"{eb}: has_wvr {truth.get('has_wvr')} but {len(wvr)} WVR spws")
    for s in wvr:
        tb.open(vis + "/PROCESSOR")
        ptype = list(tb.getcol("TYPE"))
        tb.close()
        tb.open(vis)
        q = tb.query(f"DATA_DESC_ID=={s['id']}")
        ok = (q.nrows() > 0 and q.getcell("DATA", 0).shape == (1, 4)
              and bool(np.all(q.getcol("ANTENNA1") == q.getcol("ANTENNA2")))
              and {ptype[p] for p in q.getcol("PROCESSOR_ID")} == {"RADIOMETER"})
        q.close()
        tb.close()
        print(f"[{eb}] WVR spw {s['id']} ({s['name']}): {'ok' if ok else 'NOT ALMA-like'}")
        if not ok:
            failures.append(f"{eb}: WVR spw {s['id']} is not 4-channel RADIOMETER autocorrelation data")

    # Tsys: gencal + applycal (TDM -> FDM, gainfield = the field itself)
    tsys = os.path.join(work, "tsys.cal")
    gencal(vis=vis, caltable=tsys, caltype="tsys")
    spws = truth["spws"]
    tdm_of_bb = {s["baseband"]: s["id"] for s in spws if s["type"] == "TDM"}
    spwmap = [tdm_of_bb.get(s["baseband"], s["id"]) for s in spws]
    for f in truth["fields"]:
        applycal(vis=vis, field=f["name"], spw=",".join(str(s["id"]) for s in spws if s["type"] == "FDM"),
                 gaintable=[tsys], gainfield=[f["name"]], spwmap=[spwmap],
                 interp=["linear,linear"], calwt=[False], flagbackup=False)
    tb.open(vis)
    for spw in [s["id"] for s in spws if s["type"] == "FDM"]:
        q = tb.query(f"DATA_DESC_ID=={spw} && ANTENNA1!=ANTENNA2")
        cor = q.getcol("CORRECTED_DATA")
        a1, a2, t, fld = q.getcol("ANTENNA1"), q.getcol("ANTENNA2"), q.getcol("TIME"), q.getcol("FIELD_ID")
        q.close()
        ratio = cor / model_vis(truth, spw, a1, a2, t, fld)
        for f in truth["fields"]:
            sel = fld == f["id"]
            if f["S0_jy"] is None:
                continue
            r = ratio[..., sel]
            prof = r.mean(axis=2)  # per pol/chan, averaged over rows (noise averaged down)
            amp_med = float(np.median(np.abs(r)))
            dev_amp = float(np.max(np.abs(np.abs(prof) - 1)))
            dev_ph = float(np.degrees(np.max(np.abs(np.angle(prof)))))
            print(f"[{eb}] spw {spw} {f['name']:<11s} corrected/(gg*BB*S): median |r| = {amp_med:.5f}, "
                  f"row-averaged max | |r|-1 | = {dev_amp:.1e}, max |phase| = {dev_ph:.3f} deg")
            if abs(amp_med - 1) > 2e-3 or dev_amp > 5e-3 or dev_ph > 0.3:
                failures.append(f"{eb}: Tsys-calibrated data of spw {spw} field {f['name']} differ from the model")
    tb.close()
    shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ebs", nargs="*", help="EB names (default: all demo EBs)")
    ap.add_argument("--keep", help="write the outputs to this directory and keep them")
    args = ap.parse_args()

    with open(os.path.join(ROOT, "resources", "demo_mous.yaml")) as fh:
        params = yaml.safe_load(fh)
    ebs = args.ebs or [e["name"] for e in params["execution_blocks"]]
    outdir = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="check_simulation_")
    os.makedirs(outdir, exist_ok=True)
    sim = load_simulate_eb()
    failures: list[str] = []
    try:
        for eb in ebs:
            t0 = time.time()
            sim.simulate_eb(params=params, eb=eb, asdm=os.path.join(outdir, eb),
                            truth=os.path.join(outdir, f"{eb}.truth.json"),
                            antpos_json=os.path.join(outdir, f"{eb}.antpos.json"),
                            log=os.path.join(outdir, f"{eb}.simulate.log"))
            print(f"[{eb}] simulate_eb (incl. importasdm verification) took {time.time() - t0:.1f} s")
            check_eb(eb, outdir, failures)
    finally:
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
