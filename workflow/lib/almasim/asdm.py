"""The ASDM: ``exportasdm`` and the repairs of its XML tables and BDFs.

``exportasdm`` ignores MS scan numbers and intents (every ExecBlock is one OBSERVE_TARGET scan;
ExecBlocks are cut by the OBSERVATION time range), so :func:`export_asdm` exports the MS with one
OBSERVATION_ID per scan (one ExecBlock per scan) and the XML tables are then rewritten: one
ExecBlock/SBSummary, Scan rows 1..N with the real intents, one Subscan per scan, Main rows
renumbered, the BDF headers' project paths fixed, spectral window names added, a Flag table with
the configured online flags, calibrator fluxes in Source.xml. The per-channel BDF flags that
exportasdm writes (all zero, ~35% of the volume) are removed. The visibilities are stored as they
are (FLOAT32, no conjugation: the round trip is exact). exportasdm accepts neither a second
processor nor autocorrelation-only data nor a window of another receiver band at the same time,
so the WVR window is exported as correlator data with placeholder Band-6 channels and zero
cross-correlations; its SpectralWindow row (real channels, DSB), ConfigDescription (RADIOMETER
processor, AUTO_ONLY) and BDFs (AUTO_ONLY radiometer data, cross data removed) are then rewritten
as ALMA writes radiometer data (without the 7 m antennas, which have no radiometer). A scan that
visits several fields (a mosaic) becomes one Scan with a Subscan per field.
"""

import datetime as _dt
import hashlib
import os
import re
import shutil

import numpy as np

from almasim.setup import scan_groups

# the WVR window's placeholder Band-6 channels for exportasdm (see export_asdm)
_WVR_PLACEHOLDER_HZ = 250.0e9
_WVR_PLACEHOLDER_STEP_HZ = 2.0e9


def export_asdm(setup: dict, ms: str, asdm: str, work: str) -> None:
    from casatasks import exportasdm
    from casatools import table

    tb = table()
    # exportasdm starts a new ExecBlock (= one scan) whenever the duration given by the
    # OBSERVATION time range is reached; give every scan its own observation id.
    ms_exp = os.path.join(work, "export.ms")
    shutil.copytree(ms, ms_exp, symlinks=True)
    tb.open(ms_exp + "/OBSERVATION", nomodify=False)
    groups = scan_groups(setup)  # a multi-field (mosaic) scan: one ExecBlock for its subscans
    nscan = len(groups)
    tb.addrows(nscan - 1)
    for c in ("TELESCOPE_NAME", "OBSERVER", "PROJECT", "SCHEDULE_TYPE", "RELEASE_DATE", "FLAG_ROW"):
        v = tb.getcell(c, 0)
        for r in range(1, nscan):
            tb.putcell(c, r, v)
    for k, group in groups.items():
        # end beyond the last integration: exportasdm closes an ExecBlock as soon as a row reaches
        # the end, which would cut the last timestamp's second spw into a new ExecBlock
        tb.putcell(
            "TIME_RANGE", k - 1, np.array([group[0]["start"], group[-1]["end"] + 2 * setup["tint"]])
        )
    tb.close()
    tb.open(ms_exp, nomodify=False)
    tb.putcol("OBSERVATION_ID", tb.getcol("SCAN_NUMBER") - 1)
    # exportasdm accepts a single processor: the WVR rows get their RADIOMETER processor back in
    # _repair_asdm
    tb.putcol("PROCESSOR_ID", np.zeros(tb.nrows(), dtype=np.int32))
    tb.close()
    if setup["wvr_spw"] is not None:
        # exportasdm refuses windows of different receiver bands at the same time: the WVR window
        # (183 GHz) is exported with placeholder Band-6 channels, replaced in SpectralWindow.xml
        w = setup["wvr_spw"]
        tb.open(ms_exp + "/SPECTRAL_WINDOW", nomodify=False)
        ph = _WVR_PLACEHOLDER_HZ + np.arange(4) * _WVR_PLACEHOLDER_STEP_HZ
        tb.putcell("CHAN_FREQ", w, ph)
        for c in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            tb.putcell(c, w, np.full(4, _WVR_PLACEHOLDER_STEP_HZ))
        tb.putcell("TOTAL_BANDWIDTH", w, 4 * _WVR_PLACEHOLDER_STEP_HZ)
        tb.putcell("REF_FREQUENCY", w, ph[0])
        tb.close()
    tb.open(ms_exp, nomodify=False)
    # SYSCAL keyword must point into the copy
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(os.path.join(ms_exp, "SYSCAL")))
    tb.close()

    # a distinct (valid, hexadecimal) ASDM/ExecBlock UID per EB: uid://A002/X<hash>/X1
    rangeid = "X" + hashlib.sha1(setup["eb"].encode()).hexdigest()[:6]
    ok = exportasdm(
        vis=ms_exp,
        asdm=asdm,
        datacolumn="DATA",
        archiveid="A002",
        rangeid=rangeid,
        subscanduration="24h",
        sbduration="86400s",
        apcorrected=False,
        verbose=False,
    )
    if ok is False or not os.path.exists(os.path.join(asdm, "Main.xml")):
        raise RuntimeError(f"exportasdm failed for {ms_exp} (see {setup['eb']} log)")
    shutil.rmtree(ms_exp)
    _repair_asdm(setup, asdm)
    _write_source_fluxes(setup, asdm)


def _write_source_fluxes(setup: dict, asdm: str) -> None:
    """Calibrator catalogue fluxes in Source.xml, as ALMA writes them: one row per calibrator
    (bandpass and phase roles) and science spw, Stokes I Q U V at the spw centre frequency."""
    path = os.path.join(asdm, "Source.xml")
    text = _read(path)
    rows = _xml_rows(text)
    calibrators = {f["name"]: f for f in setup["fields"] if f["role"] in ("bandpass", "phase")}
    new_rows = list(rows)
    for row in rows:
        field = calibrators.get(_xml_get(row, "sourceName"))
        if field is None:
            continue
        for spw in (
            setup["spws"][w] for w in setup["corr_spws"] if setup["spws"][w]["type"] == "FDM"
        ):
            flux = float(field["flux_jy"] * (spw["centre"] / setup["nu0"]) ** field["spix"])
            extra = (
                f"<numFreq> 1 </numFreq> <numStokes> 4 </numStokes> "
                f"<frequency> 1 1 {spw['centre']!r} </frequency> "
                f"<stokesParameter> 1 4 I Q U V</stokesParameter> "
                f"<flux> 2 1 4 {flux!r} 0.0 0.0 0.0 </flux> <size> 2 1 2 0.0 0.0 </size>"
            )
            new = row.replace("</directionCode>", "</directionCode>" + extra, 1)
            new_rows.append(_xml_set(new, "spectralWindowId", f"SpectralWindow_{spw['id']}"))
    _write(path, _xml_replace_rows(text, new_rows))
    _set_numrows(asdm, "Source", len(new_rows))


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
    new, n = re.subn(
        rf"<{tag}>.*?</{tag}>", lambda _m: f"<{tag}> {value} </{tag}>", row, count=1, flags=re.S
    )
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
    text, k = re.subn(
        rf"(<Name> {table} </Name> <NumberRows> )\d+( </NumberRows>)", rf"\g<1>{n}\g<2>", text
    )
    if k != 1:
        raise RuntimeError(f"ASDM.xml: table {table} not found")
    _write(path, text)


def _repair_asdm(setup: dict, asdm: str) -> None:
    """One ExecBlock holding scans 1..N with the real intents; one Subscan per scan and field
    (a mosaic scan visits its pointings in subscans 1..n)."""
    scans = setup["scans"]
    groups = scan_groups(setup)

    # ---- ExecBlock / SBSummary: exportasdm wrote one per scan (by time order)
    eb_text = _read(os.path.join(asdm, "ExecBlock.xml"))
    eb_rows = _xml_rows(eb_text)
    if len(eb_rows) != len(groups):
        raise RuntimeError(
            f"exportasdm wrote {len(eb_rows)} ExecBlocks, expected one per scan ({len(groups)})"
        )
    eb_rows.sort(key=lambda r: int(_xml_get(r, "startTime")))
    eb_ids = [_xml_get(r, "execBlockId") for r in eb_rows]
    scan_of_eb = {e: i + 1 for i, e in enumerate(eb_ids)}
    keep = eb_rows[0]
    keep_id = eb_ids[0]
    sbs_id = _xml_get(keep, "sBSummaryId")
    keep = _xml_set(keep, "endTime", _xml_get(eb_rows[-1], "endTime"))
    keep = _xml_set(keep, "execBlockNum", "1")
    keep = _xml_set(
        keep, "baseRangeMin", str(min(float(_xml_get(r, "baseRangeMin")) for r in eb_rows))
    )
    keep = _xml_set(
        keep, "baseRangeMax", str(max(float(_xml_get(r, "baseRangeMax")) for r in eb_rows))
    )
    keep = _xml_set(keep, "configName", setup["array_config"].replace(".cfg", ""))
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
    nint_of_subscan: dict[tuple[int, int], set] = {}
    for r in _xml_rows(main_text):
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        j = _subscan_of_row(groups[k], int(_xml_get(r, "time")))
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "subscanNumber", str(j))
        r = _xml_set(r, "execBlockId", keep_id)
        uid = re.search(r'entityId="([^"]+)"', r.split("<dataUID>")[1]).group(1)
        bdf_paths[uid] = f"1/{k}/{j}/"
        nint_of_scan.setdefault(k, set()).add(int(_xml_get(r, "numIntegration")))
        nint_of_subscan.setdefault((k, j), set()).add(int(_xml_get(r, "numIntegration")))
        main_rows.append(r)
    _write(os.path.join(asdm, "Main.xml"), _xml_replace_rows(main_text, main_rows))

    # ---- Scan
    scan_text = _read(os.path.join(asdm, "Scan.xml"))
    srows = _xml_rows(scan_text)
    if len(srows) != len(groups):
        raise RuntimeError(f"exportasdm wrote {len(srows)} scans, expected {len(groups)}")
    new_scans = []
    for r in srows:
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        sc = groups[k][0]
        n = len(sc["intents"])
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "execBlockId", keep_id)
        r = _xml_set(r, "numIntent", str(n))
        r = _xml_set(r, "numSubscan", str(len(groups[k])))
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
            m = _xml_set(
                m,
                "startTime",
                str(min(int(_xml_get(m, "startTime")), int(_xml_get(r, "startTime")))),
            )
            m = _xml_set(
                m, "endTime", str(max(int(_xml_get(m, "endTime")), int(_xml_get(r, "endTime"))))
            )
            merged[k] = m
        else:
            r = _xml_set(r, "scanNumber", str(k))
            r = _xml_set(r, "subscanNumber", "1")
            r = _xml_set(r, "execBlockId", keep_id)
            merged[k] = r
    sub_rows = []
    for k in sorted(merged):
        if len(groups[k]) > 1:
            sub_rows += _subscan_rows(merged[k], groups[k], nint_of_subscan)
            continue
        nint = nint_of_scan[k]
        if len(nint) != 1 or nint != {groups[k][0]["nint"]}:
            raise RuntimeError(
                f"scan {k}: integrations per Main row {nint} != {groups[k][0]['nint']}"
            )
        n = groups[k][0]["nint"]
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
        blob = re.sub(
            rb"(Content-Location: |projectPath=\"|xlink:href= \")" + re.escape(old),
            lambda mm: mm.group(1) + new,  # noqa: B023 (called here, within this iteration)
            blob,
        )
        blob = _strip_bdf_flags(blob, fn)
        with open(fn, "wb") as fh:
            fh.write(blob)

    # ---- spectral window names (exportasdm does not write them; importasdm reads <name>)
    spw_text = _read(os.path.join(asdm, "SpectralWindow.xml"))
    spw_rows = _xml_rows(spw_text)
    if len(spw_rows) != len(setup["spws"]):
        raise RuntimeError("SpectralWindow.xml: unexpected number of rows")
    spw_rows = [
        r.replace("</row>", f"<name> {s['name']} </name> </row>") if "<name>" not in r else r
        for r, s in zip(spw_rows, setup["spws"])
    ]
    _write(os.path.join(asdm, "SpectralWindow.xml"), _xml_replace_rows(spw_text, spw_rows))

    # ---- WVR window: real channels, radiometer processor, autocorrelation-only BDFs
    if setup["wvr_spw"] is not None:
        _repair_asdm_wvr(setup, asdm)

    # ---- online flags (Flag.xml): real ASDMs always have this table
    _write_flag_table(setup, asdm)

    # ---- reproducible ASDM.xml: creation time = end of the EB instead of the wall clock
    end = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=scans[-1]["end"])
    asdm_xml = _read(os.path.join(asdm, "ASDM.xml"))
    asdm_xml = re.sub(
        r"<TimeOfCreation>.*?</TimeOfCreation>",
        f"<TimeOfCreation> {end.strftime('%Y-%m-%dT%H:%M:%S')}.000000000 </TimeOfCreation>",
        asdm_xml,
    )
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)


def _subscan_of_row(group: list[dict], time_ns: int) -> int:
    """Subscan number (1-based) of a Main row of a scan from its (mid-)time."""
    if len(group) == 1:
        return 1
    t = time_ns * 1e-9
    for j, sc in enumerate(group, start=1):
        if sc["start"] - 1e-3 <= t <= sc["end"] + 1e-3:
            return j
    raise RuntimeError(f"scan {group[0]['scan']}: Main row at {t} s is in none of its subscans")


def _subscan_rows(template: str, group: list[dict], nint_of_subscan: dict) -> list[str]:
    """Subscan rows 1..n of a scan that visits several fields (a mosaic), one per field."""
    rows = []
    for j, sc in enumerate(group, start=1):
        nint = nint_of_subscan.get((sc["scan"], j))
        if nint != {sc["nint"]}:
            raise RuntimeError(
                f"scan {sc['scan']} subscan {j}: integrations per Main row {nint} != {sc['nint']}"
            )
        n = sc["nint"]
        r = _xml_set(template, "subscanNumber", str(j))
        r = _xml_set(r, "startTime", str(int(round(sc["start"] * 1e9))))
        r = _xml_set(r, "endTime", str(int(round(sc["end"] * 1e9))))
        r = _xml_set(r, "fieldName", sc["field"])
        r = _xml_set(r, "numIntegration", str(n))
        r = _xml_set(r, "numSubintegration", f"1 {n} " + " ".join(["0"] * n))
        r = _xml_set(r, "subscanIntent", "ON_SOURCE")
        rows.append(r)
    return rows


def _xml_array(values) -> str:
    """ASDM 1-D array literal: '1 n v1 ... vn'."""
    return f"1 {len(values)} " + " ".join(f"{float(v):.17g}" for v in values)


def _repair_asdm_wvr(setup: dict, asdm: str) -> None:
    """Turn the exported WVR window into ALMA radiometer data.

    exportasdm writes every data description as CROSS_AND_AUTO correlator data and refuses
    windows of a second receiver band: the WVR window was exported with placeholder Band-6
    channels and zero cross-correlations. Here its SpectralWindow row gets the real channels, its
    ConfigDescription the RADIOMETER processor and AUTO_ONLY, and its BDFs lose the cross data."""
    s = setup["spws"][setup["wvr_spw"]]
    spw_tag = f"SpectralWindow_{s['id']}"
    # SpectralWindow: real frequencies (uneven channels), double sideband
    spw_text = _read(os.path.join(asdm, "SpectralWindow.xml"))
    rows = _xml_rows(spw_text)
    k = [i for i, r in enumerate(rows) if _xml_get(r, "spectralWindowId") == spw_tag]
    if len(k) != 1:
        raise RuntimeError(f"SpectralWindow.xml: no row {spw_tag}")
    r = rows[k[0]]
    for tag, vals in (
        ("chanFreqArray", s["freqs"]),
        ("chanWidthArray", s["widths"]),
        ("effectiveBwArray", s["widths"]),
        ("resolutionArray", s["widths"]),
    ):
        r = _xml_set(r, tag, _xml_array(vals))
    r = _xml_set(r, "refFreq", f"{s['freqs'][0]:.17g}")
    r = _xml_set(r, "totBandwidth", f"{s['bandwidth']:.17g}")
    r = re.sub(r"<netSideband>\w+</netSideband>", "<netSideband>DSB</netSideband>", r)
    rows[k[0]] = r
    _write(os.path.join(asdm, "SpectralWindow.xml"), _xml_replace_rows(spw_text, rows))

    # Processor: the radiometer row (exportasdm copies the MS PROCESSOR table)
    proc_text = _read(os.path.join(asdm, "Processor.xml"))
    radiometer = [
        _xml_get(r, "processorId")
        for r in _xml_rows(proc_text)
        if "<processorType>RADIOMETER<" in r
    ]
    if len(radiometer) != 1:
        raise RuntimeError("Processor.xml: no RADIOMETER processor")
    # DataDescription -> ConfigDescription of the WVR window
    dd_text = _read(os.path.join(asdm, "DataDescription.xml"))
    dd = [
        _xml_get(r, "dataDescriptionId")
        for r in _xml_rows(dd_text)
        if _xml_get(r, "spectralWindowId") == spw_tag
    ]
    cd_text = _read(os.path.join(asdm, "ConfigDescription.xml"))
    cd_rows = _xml_rows(cd_text)
    nant = len(setup["antennas"])
    keep = setup["wvr_antennas"] if len(setup["wvr_antennas"]) < nant else None
    wvr_cd = []
    for i, r in enumerate(cd_rows):
        if _xml_get(r, "dataDescriptionId").split()[2:] == dd:
            r = re.sub(
                r"<correlationMode>\w+</correlationMode>",
                "<correlationMode>AUTO_ONLY</correlationMode>",
                r,
            )
            r = re.sub(
                r"<processorType>\w+</processorType>",
                "<processorType>RADIOMETER</processorType>",
                r,
            )
            r = _xml_set(r, "processorId", radiometer[0])
            if keep is not None:  # only the antennas with a radiometer (not the 7 m ones)
                r = _keep_antennas(r, keep, ("antennaId", "feedId"))
            cd_rows[i] = r
            wvr_cd.append(_xml_get(r, "configDescriptionId"))
    if len(dd) != 1 or len(wvr_cd) != 1:
        raise RuntimeError(
            f"WVR window: {len(dd)} data descriptions, {len(wvr_cd)} config descriptions (want 1, 1)"
        )
    _write(os.path.join(asdm, "ConfigDescription.xml"), _xml_replace_rows(cd_text, cd_rows))

    # BDFs of the WVR Main rows: AUTO_ONLY radiometer data; Main.dataSize = autoData bytes
    main_text = _read(os.path.join(asdm, "Main.xml"))
    main_rows = _xml_rows(main_text)
    nwvr = 0
    for i, r in enumerate(main_rows):
        if _xml_get(r, "configDescriptionId") != wvr_cd[0]:
            continue
        uid = re.search(r'entityId="([^"]+)"', r.split("<dataUID>")[1]).group(1)
        fn = os.path.join(asdm, "ASDMBinary", uid.replace(":", "_").replace("/", "_"))
        with open(fn, "rb") as fh:
            blob, nbytes = _bdf_auto_only(fh.read(), fn)
        if keep is not None:
            blob, nbytes = _bdf_keep_antennas(blob, fn, keep, nant, s["nchan"])
            r = _keep_antennas(r, keep, ("stateId",))
        with open(fn, "wb") as fh:
            fh.write(blob)
        main_rows[i] = _xml_set(r, "dataSize", str(nbytes))
        nwvr += 1
    if nwvr != len(setup["scans"]):
        raise RuntimeError(f"WVR window: {nwvr} Main rows, expected one per scan")
    _write(os.path.join(asdm, "Main.xml"), _xml_replace_rows(main_text, main_rows))


def _keep_antennas(row: str, keep: list[int], tags: tuple[str, ...]) -> str:
    """A ConfigDescription or Main row reduced to the antennas ``keep`` (indices into its
    per-antenna arrays): numAntenna and the per-antenna arrays ``tags``."""
    row = _xml_set(row, "numAntenna", str(len(keep)))
    for tag in tags:
        values = _xml_get(row, tag).split()[2:]
        row = _xml_set(row, tag, f"1 {len(keep)} " + " ".join(values[i] for i in keep) + " ")
    return row


def _bdf_keep_antennas(
    blob: bytes, name: str, keep: list[int], nant: int, nchan: int
) -> tuple[bytes, int]:
    """A radiometer (AUTO_ONLY, axes ANT SPP POL, one polarization, float32) BDF reduced to
    the antennas ``keep``: the WVR data of an array whose 7 m antennas have no radiometer."""
    old_size = nant * nchan
    subs = [
        (rb"<numAntenna>%d</numAntenna>" % nant, b"<numAntenna>%d</numAntenna>" % len(keep)),
        (
            rb'<autoData size="%d" axes="ANT SPP POL"' % old_size,
            b'<autoData size="%d" axes="ANT SPP POL"' % (len(keep) * nchan),
        ),
    ]
    for pat, rep in subs:
        blob, n = re.subn(pat, rep, blob, count=1)
        if n != 1:
            raise RuntimeError(f"{name}: unexpected radiometer BDF header ({pat!r})")

    def cut(m: re.Match) -> bytes:
        data = np.frombuffer(m.group(2), dtype="<f4")
        if data.size != old_size:
            raise RuntimeError(f"{name}: autoData of {data.size} values, expected {old_size}")
        kept = data.reshape(nant, nchan)[keep].astype("<f4").tobytes()
        return m.group(1) + kept + b"\n"

    blob, n = re.subn(
        rb"(Content-Location: [^\n]*autoData\.bin\n\n)(.*?)\n(?=--MIME_boundary-2)",
        cut,
        blob,
        flags=re.S,
    )
    if n == 0:
        raise RuntimeError(f"{name}: no autoData attachment")
    nbytes = sum(len(m) for m in _AUTO_PART.findall(blob))
    return blob, nbytes


_CROSS_PART = re.compile(
    rb"--MIME_boundary-2\nContent-Type: binary/octet-stream\n"
    rb"Content-Location: [^\n]*crossData\.bin\n\n.*?\n(?=--MIME_boundary-2)",
    re.S,
)
_AUTO_PART = re.compile(
    rb"Content-Location: [^\n]*autoData\.bin\n\n(.*?)\n(?=--MIME_boundary-2)", re.S
)


def _bdf_auto_only(blob: bytes, name: str) -> tuple[bytes, int]:
    """CROSS_AND_AUTO correlator BDF -> AUTO_ONLY radiometer BDF (cross data removed)."""
    nint = len(re.findall(rb"<sdmDataSubsetHeader", blob))
    subs = [
        (
            rb"<correlationMode>CROSS_AND_AUTO</correlationMode>",
            b"<correlationMode>AUTO_ONLY</correlationMode>",
            1,
        ),
        (
            rb"<processorType>CORRELATOR</processorType>",
            b"<processorType>RADIOMETER</processorType>",
            1,
        ),
        (
            rb'crossPolProducts="(\w+)" sdPolProducts="" scaleFactor="[^"]*" ',
            rb'sdPolProducts="\1" ',
            1,
        ),
        (rb'<crossData size="\d+" axes="[A-Z ]+"/>\n', b"", 1),
        (rb'xsi:type="BinaryCrossAndAutoData"', b'xsi:type="BinaryAutoData"', nint),
        (rb'<crossData xlink:href= "[^"]*" type="\w+"/>\n', b"", nint),
        (rb'<zeroLags xlink:href= "[^"]*"/>\n', b"", nint),
    ]
    for pat, rep, want in subs:
        blob, n = re.subn(pat, rep, blob)
        if n != want:
            raise RuntimeError(f"{name}: unexpected BDF layout ({pat!r}: {n} matches, want {want})")
    blob, n = _CROSS_PART.subn(b"", blob)
    if n != nint:
        raise RuntimeError(f"{name}: {n} crossData attachments, expected {nint}")
    nbytes = sum(len(m) for m in _AUTO_PART.findall(blob))
    return blob, nbytes


_FLAGS_PART = re.compile(
    rb"--MIME_boundary-2\nContent-Type: binary/octet-stream\n"
    rb"Content-Location: [^\n]*flags\.bin\n\n\x00*\n(?=--MIME_boundary-2)"
)


def _strip_bdf_flags(blob: bytes, name: str) -> bytes:
    """Remove the (all-zero, per channel) BDF flags written by exportasdm: ~35% of the volume.

    The flags attachment is optional in the BDF format; the ALMA correlator writes a much smaller
    one (no spectral axis). Without it importasdm(bdfflags=True) finds nothing to flag."""
    nint = len(re.findall(rb"<sdmDataSubsetHeader", blob))
    blob, n1 = _FLAGS_PART.subn(b"", blob)
    blob, n2 = re.subn(rb'<flags xlink:href= "[^"]*"/>\n', b"", blob)
    blob, n3 = re.subn(rb'<flags size="\d+" axes="[A-Z ]+"/>\n', b"", blob, count=1)
    if not (n1 == n2 == nint and n3 == 1):
        raise RuntimeError(
            f"{name}: unexpected BDF flag layout ({n1}, {n2}, {n3}, {nint} integrations)"
        )
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
            "<numPairedAntenna> 0 </numPairedAntenna> </row>"
        )
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
    new_entry = (
        f"<Table> <Name> Flag </Name> <NumberRows> {len(rows)} </NumberRows> "
        f'<Entity entityId="{entity}" entityIdEncrypted="na" entityTypeName="FlagTable" '
        'schemaVersion="1" documentVersion="1"/> </Table>'
    )
    asdm_xml, n = re.subn(
        r"<Table> <Name> Flag </Name> <NumberRows> \d+ </NumberRows>.*?</Table>",
        lambda _m: new_entry,
        asdm_xml,
        count=1,
        flags=re.S,
    )
    if n != 1:
        raise RuntimeError("ASDM.xml: no Flag table entry")
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)
