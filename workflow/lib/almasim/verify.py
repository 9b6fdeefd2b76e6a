"""Verification: re-import the ASDM with ``importasdm`` and compare it with the simulated MS.

:func:`verify_asdm` compares scans, fields, spws per scan, intents, row counts, BBC_NO,
processor types (RADIOMETER for the WVR window), autocorrelation-only WVR rows, POINTING
azimuth/elevation, the online antenna positions, the calibrator fluxes of Source.xml, the online
flag commands, SYSCAL (also read back with ``gencal(caltype='tsys')`` against the true Tsys),
autocorrelations and every visibility (WVR data included) with the MS that was written, and for
the ALMA raw layout the WVR rows' antennas, dish diameters, source ids and the CH_AVG windows
(the channel average of their FULL_RES window). Any mismatch raises ``RuntimeError``.
"""

import os
import shutil
from typing import Any

import numpy as np

from almasim.data import row_chunks
from almasim.ms import pointing_azel, scan_rows
from almasim.setup import scan_groups


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
    tb.open(ms + "/FIELD")
    out["field_source_ids"] = [int(v) for v in tb.getcol("SOURCE_ID")]
    tb.close()
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
    out["dish_diameters"] = [float(v) for v in tb.getcol("DISH_DIAMETER")]
    tb.close()
    tb.open(ms + "/PROCESSOR")
    ptype = [str(v) for v in tb.getcol("TYPE")]
    tb.close()
    tb.open(ms + "/DATA_DESCRIPTION")
    dd_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(ms)
    spw_row = dd_spw[tb.getcol("DATA_DESC_ID")]
    proc = tb.getcol("PROCESSOR_ID")
    out["processor_of_spw"] = {
        int(w): sorted({ptype[p] for p in proc[spw_row == w]}) for w in np.unique(spw_row)
    }
    out["autos_only_spws"] = sorted(
        int(w) for w in np.unique(spw_row) if np.all((a1 == a2)[spw_row == w])
    )
    tb.close()
    tb.open(ms + "/POINTING")
    out["pointing"] = (
        (
            tb.getcol("TIME"),
            tb.getcol("DIRECTION")[:, 0, :],
            tb.getcolkeyword("DIRECTION", "MEASINFO")["Ref"],
        )
        if tb.nrows()
        else None
    )
    tb.close()
    if "SYSCAL" in _keywords(ms):
        tb.open(ms + "/SYSCAL")
        out["syscal_rows"] = int(tb.nrows())
        out["syscal"] = {
            (int(a), int(w), round(float(t), 3)): tb.getcell("TSYS_SPECTRUM", r)
            for r, (a, w, t) in enumerate(
                zip(tb.getcol("ANTENNA_ID"), tb.getcol("SPECTRAL_WINDOW_ID"), tb.getcol("TIME"))
            )
        }
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


def _read_vis(ms: str, data_spws: set[int]) -> tuple[bool, dict[int, dict]]:
    """Rows per spw sorted by (TIME, ANTENNA1, ANTENNA2): TIME, ANTENNA1, ANTENNA2 and, for the
    spws in ``data_spws``, DATA; also whether any FLAG is set (read in row chunks)."""
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
            out[int(spw)] = {
                "dd": dd,
                "time": q.getcol("TIME"),
                "a1": q.getcol("ANTENNA1"),
                "a2": q.getcol("ANTENNA2"),
            }
            if int(spw) in data_spws:
                out[int(spw)]["data"] = q.getcol("DATA")
            per_row = int(np.prod(q.getcell("FLAG", 0).shape))
            anyflag = anyflag or any(
                bool(q.getcol("FLAG", startrow=start, nrow=n).any())
                for start, n in row_chunks(q.nrows(), per_row)
            )
        q.close()
    tb.close()
    return anyflag, out


def _data_chunks(ms: str, dd: int):
    """DATA of one data description, rows sorted by (TIME, ANTENNA1, ANTENNA2), in row chunks."""
    from casatools import table

    tb = table()
    tb.open(ms)
    q = tb.query(f"DATA_DESC_ID=={dd}", sortlist="TIME,ANTENNA1,ANTENNA2")
    try:
        per_row = int(np.prod(q.getcell("DATA", 0).shape))
        for start, n in row_chunks(q.nrows(), per_row):
            yield q.getcol("DATA", startrow=start, nrow=n)
    finally:
        q.close()
        tb.close()


def _data_errors(ms: str, vis: str, dd_ref: int, dd_imp: int) -> tuple[float, float, bool]:
    """max |imported - written| and max |conj(written) - imported|, both over max |written|, and
    whether all DATA are finite (chunk by chunk: the memory stays bounded)."""
    scale = diff = diffc = 0.0
    finite = True
    for r, i in zip(_data_chunks(ms, dd_ref), _data_chunks(vis, dd_imp), strict=True):
        finite = finite and bool(np.all(np.isfinite(r)) and np.all(np.isfinite(i)))
        scale = max(scale, float(np.max(np.abs(r))))
        diff = max(diff, float(np.max(np.abs(r - i))))
        diffc = max(diffc, float(np.max(np.abs(np.conj(r) - i))))
    return diff / scale, diffc / scale, finite


def _layout_problems(setup: dict, vimp: dict) -> list[str]:
    """Imported data vs the ALMA layout of the setup: the WVR rows only for the antennas with a
    radiometer; each CH_AVG window the channel average of its FULL_RES window, row by row."""
    problems = []
    w = setup["wvr_spw"]
    if w is not None and w in vimp:
        ants = sorted(set(vimp[w]["a1"].tolist()))
        if ants != sorted(setup["wvr_antennas"]):
            problems.append(f"WVR rows for antennas {ants}, want {setup['wvr_antennas']}")
    for full, twin in setup.get("ch_avg", {}).items():
        if full not in vimp or twin not in vimp:
            problems.append(f"CH_AVG spw {twin} or its FULL_RES spw {full} has no data")
            continue
        f, t = vimp[full], vimp[twin]
        if not (
            np.array_equal(f["a1"], t["a1"])
            and np.array_equal(f["a2"], t["a2"])
            and np.max(np.abs(f["time"] - t["time"]), initial=0.0) < 1e-3
        ):
            problems.append(f"CH_AVG spw {twin}: rows differ from FULL_RES spw {full}")
            continue
        mean = f["data"].astype(np.complex128).mean(axis=1)
        err = np.max(np.abs(t["data"][:, 0, :] - mean)) / np.max(np.abs(mean))
        if not err < 1e-6:
            problems.append(f"CH_AVG spw {twin} != channel average of spw {full} ({err:.1e})")
    return problems


def verify_asdm(setup: dict, model: dict, ms: str, asdm: str, work: str) -> None:
    """Re-import the ASDM and compare it with the simulated MS; raise RuntimeError on mismatch."""
    from casatasks import casalog, gencal, importasdm
    from casatools import table

    vis = os.path.join(work, "verify.ms")
    flagfile = os.path.join(work, "verify.flagonline.txt")
    importasdm(asdm=asdm, vis=vis, savecmds=True, outfile=flagfile, overwrite=True, asis="Source")
    if not os.path.isdir(vis):
        raise RuntimeError(f"importasdm did not produce {vis}")
    problems: list[str] = []
    # the calibrator fluxes of Source.xml (a malformed row would silently empty SOURCE)
    tb = table()
    tb.open(os.path.join(vis, "ASDM_SOURCE"))
    n_flux = sum(1 for i in range(tb.nrows()) if tb.iscelldefined("flux", i))
    tb.close()
    n_calibrators = sum(1 for f in setup["fields"] if f["role"] in ("bandpass", "phase"))
    n_fdm = sum(1 for w in setup["corr_spws"] if setup["spws"][w]["type"] == "FDM")
    if n_flux != n_calibrators * n_fdm:
        problems.append(f"ASDM_SOURCE has {n_flux} rows with flux, want {n_calibrators * n_fdm}")

    ref = _ms_summary(ms)
    imp = _ms_summary(vis)
    for key in (
        "scans",
        "nrows",
        "n_auto",
        "field_names",
        "antenna_names",
        "bbc_no",
        "spw_names",
        "syscal_rows",
        "dish_diameters",
        "field_source_ids",
    ):
        if ref[key] != imp[key]:
            problems.append(f"{key}: written {ref[key]} != imported {imp[key]}")
    groups = scan_groups(setup)
    if ref["scans"] != list(range(1, len(groups) + 1)):
        problems.append(f"scan numbers {ref['scans']} are not 1..{len(groups)}")
    for s in ref["scans"]:
        if s in imp["per_scan"] and ref["per_scan"][s] != imp["per_scan"][s]:
            problems.append(
                f"scan {s}: written {ref['per_scan'][s]} != imported {imp['per_scan'].get(s)}"
            )
        group = groups.get(s, [])
        if not group:
            problems.append(f"scan {s} is not in the setup")
            continue
        want = {
            "fields": sorted(sc["field_id"] for sc in group),
            "spws": sorted(group[0]["spws"]),
            "intents": sorted(f"{i}#ON_SOURCE" for i in group[0]["intents"]),
            "nrows": sum(scan_rows(setup, sc, wvr_autos_only=True) for sc in group),
        }
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
    online = np.array([a["itrf_online"] for a in setup["antennas"]])
    if np.max(np.abs(imp["positions"] - online)) > 1e-4:
        problems.append("imported antenna positions are not the online (error-carrying) ones")
    want_proc = {
        s["id"]: ["RADIOMETER" if s["type"] == "WVR" else "CORRELATOR"] for s in setup["spws"]
    }
    if imp["processor_of_spw"] != want_proc:
        problems.append(f"processor types per spw {imp['processor_of_spw']} != {want_proc}")
    want_autos = [] if setup["wvr_spw"] is None else [setup["wvr_spw"]]
    if imp["autos_only_spws"] != want_autos:
        problems.append(
            f"spws with autocorrelations only: {imp['autos_only_spws']}, want {want_autos}"
        )
    if imp["pointing"] is None or imp["pointing"][2] != "AZELGEO":
        problems.append("imported POINTING is missing or not AZELGEO")
    else:
        ptime, pdir, _ = imp["pointing"]
        azel = pointing_azel(setup, ptime)
        derr = np.degrees(np.max(np.abs(np.angle(np.exp(1j * (pdir - azel))))))
        casalog.post(f"verify POINTING: max |imported - computed| az/el = {derr:.2e} deg", "INFO")
        if derr > 0.01:
            problems.append(
                f"imported POINTING az/el differ from the fields' az/el by up to {derr:.3f} deg"
            )
    if set(ref["syscal"]) != set(imp["syscal"]):
        problems.append("SYSCAL antenna/spw/time keys differ")
    else:
        for k, v in ref["syscal"].items():
            if v.shape != imp["syscal"][k].shape or np.max(np.abs(v - imp["syscal"][k])) > 1e-3:
                problems.append(f"SYSCAL TSYS_SPECTRUM differs for (ant, spw, time) {k}")
                break

    # visibilities (cross and auto), to float32 precision
    rtol = float(setup["params"].get("verify_rtol", 1e-5))
    layout_spws = {w for pair in setup.get("ch_avg", {}).items() for w in pair}
    flag_ref, vref = _read_vis(ms, set())
    flag_imp, vimp = _read_vis(vis, layout_spws)
    if flag_imp:
        problems.append("imported MS has flagged data (FLAG column)")
    if sorted(vref) != sorted(vimp):
        problems.append(f"spws with data: written {sorted(vref)} != imported {sorted(vimp)}")
    for spw in vref:
        if spw not in vimp:
            continue
        r, i = vref[spw], vimp[spw]
        if len(r["time"]) != len(i["time"]):
            problems.append(f"spw {spw}: {len(r['time'])} rows != imported {len(i['time'])}")
            continue
        if (
            np.max(np.abs(r["time"] - i["time"])) > 1e-3
            or not np.array_equal(r["a1"], i["a1"])
            or not np.array_equal(r["a2"], i["a2"])
        ):
            problems.append(f"spw {spw}: row metadata (TIME/ANTENNA1/ANTENNA2) differ")
            continue
        try:
            err, errc, finite = _data_errors(ms, vis, r["dd"], i["dd"])
        except ValueError as error:  # chunks of other shapes
            problems.append(f"spw {spw}: DATA shape differs from imported ({error})")
            continue
        if not finite:
            problems.append(f"spw {spw}: DATA not finite")
            continue
        casalog.post(
            f"verify spw {spw}: max |imported - written| / max|written| = {err:.2e} "
            f"(conjugated: {errc:.2e})",
            "INFO",
        )
        if err > rtol:
            hint = " (the round trip conjugates the data)" if errc <= rtol else ""
            problems.append(
                f"spw {spw}: DATA differs after the round trip, rel. error {err:.2e}{hint}"
            )

    problems += _layout_problems(setup, vimp)

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
    fp, fld, spw, ant = (
        tb.getcol("FPARAM"),
        tb.getcol("FIELD_ID"),
        tb.getcol("SPECTRAL_WINDOW_ID"),
        tb.getcol("ANTENNA1"),
    )
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
            problems.append(
                f"gencal tsys differs from the true Tsys (rel. error {worst:.2e}; wrong field?)"
            )

    if problems:
        raise RuntimeError(
            f"ASDM verification failed for {setup['eb']}:\n  " + "\n  ".join(problems)
        )
    shutil.rmtree(vis, ignore_errors=True)
    shutil.rmtree(vis + ".flagversions", ignore_errors=True)
    shutil.rmtree(caltable, ignore_errors=True)
