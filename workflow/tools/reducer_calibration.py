"""A reducer's plain calibration script for one ALMA EB: the yardstick of the scale benchmark.

One Python process, CASA tasks only, the sequence of the ALMA manual-calibration scripts (seed
001): one import, the a-priori flags, Tsys, WVR and antenna-position tables, one applycal per
field, one split of the science spws, edge-channel flags, one setjy, the solves (phase-up,
bandpass, per-spw phase offsets, per-integration and per-scan phases, amplitudes), fluxscale,
one final applycal per role and one split to ``<eb>.ms.split.cal``. No QA, no heuristics, no
flag versions beyond the one a reducer saves before the split. It reads what a reducer reads in
listobs (fields by intent, spws, basebands) with msmetadata; the solve settings are the
workflow's defaults (config/config.yaml), so both make the same tables.

Usage (the benchmark runs it in a scratch folder)::

    python reducer_calibration.py ASDM EB ANTPOS_JSON REFANT FLUX_JY SPIX REF_FREQ_GHZ
"""

import os
import sys

from casatasks import (
    applycal,
    bandpass,
    flagcmd,
    flagdata,
    flagmanager,
    fluxscale,
    gaincal,
    gencal,
    importasdm,
    listobs,
    setjy,
    split,
    wvrgcal,
)
from casatools import msmetadata

asdm, eb, antpos_json, refant = sys.argv[1:5]
flux_jy, spix, ref_freq_ghz = (float(v) for v in sys.argv[5:8])
ms = f"{eb}.ms"

# import and a-priori flags
asis = ("Antenna", "Station", "Receiver", "Source", "CalAtmosphere", "CalWVR", "SBSummary")
importasdm(
    asdm=asdm,
    vis=ms,
    asis=" ".join(t for t in asis if os.path.exists(f"{asdm}/{t}.xml")),
    process_caldevice=False,
)
listobs(vis=ms, listfile=f"{ms}.listobs.txt")
flagcmd(vis=ms, inpmode="table", useapplied=True, action="apply", flagbackup=False)
flagdata(vis=ms, mode="manual", autocorr=True, flagbackup=False)
flagdata(vis=ms, mode="shadow", flagbackup=False)
flagdata(vis=ms, mode="manual", intent="*POINTING*,*SIDEBAND_RATIO*,*ATMOSPHERE*", flagbackup=False)
flagmanager(vis=ms, mode="save", versionname="Original")

# what listobs tells the reducer
msmd = msmetadata()
msmd.open(ms)
bandpass_field = msmd.fieldsforintent("CALIBRATE_BANDPASS*", asnames=True)[0]
flux_field = msmd.fieldsforintent("CALIBRATE_FLUX*", asnames=True)[0]
phase_field = msmd.fieldsforintent("CALIBRATE_PHASE*", asnames=True)[0]
target = msmd.fieldsforintent("OBSERVE_TARGET*", asnames=True)[0]
science = sorted(int(s) for s in msmd.spwsforintent("OBSERVE_TARGET*"))
tsys_spws = sorted(int(s) for s in msmd.spwsforintent("CALIBRATE_ATMOSPHERE*"))
baseband = {s: msmd.baseband(s) for s in range(msmd.nspw())}
nchan = {s: msmd.nchan(s) for s in science}
msmd.close()
tsys_map = [
    next((t for t in tsys_spws if baseband[t] == baseband[s]), s) for s in range(len(baseband))
]
science_spw = ",".join(str(s) for s in science)
calibrators = ",".join(dict.fromkeys([bandpass_field, flux_field, phase_field]))

# a-priori calibration tables
gencal(vis=ms, caltable=f"{ms}.tsys", caltype="tsys")
wvrgcal(
    vis=ms,
    caltable=f"{ms}.wvrgcal",
    toffset=0,
    tie=[f"{phase_field},{target}"],
    statsource=target,
)
gencal(vis=ms, caltable=f"{ms}.antpos", caltype="antpos", infile=antpos_json)

# one applycal per field (Tsys of the field itself, or of the phase calibrator for the target),
# one split of the science spws
for field, tsys_field in (
    (bandpass_field, bandpass_field),
    (phase_field, phase_field),
    (target, target),
):
    applycal(
        vis=ms,
        field=field,
        spw=science_spw,
        gaintable=[f"{ms}.tsys", f"{ms}.wvrgcal", f"{ms}.antpos"],
        gainfield=[tsys_field, "", ""],
        interp=["linear,linear", "nearest", ""],
        spwmap=[tsys_map, [], []],
        calwt=True,
        flagbackup=False,
    )
split(
    vis=ms,
    outputvis=f"{ms}.split",
    field=f"{calibrators},{target}",
    spw=science_spw,
    datacolumn="corrected",
    keepflags=True,
)
split_ms = f"{ms}.split"
split_spws = range(len(science))  # split renumbers the spws 0..n-1

# edge channels (5 % each side), the flux model
edge = {s: max(1, round(0.05 * nchan[spw])) for s, spw in zip(split_spws, science)}
flagdata(
    vis=split_ms,
    mode="manual",
    spw=",".join(
        f"{s}:0~{edge[s] - 1};{nchan[science[s]] - edge[s]}~{nchan[science[s]] - 1}"
        for s in split_spws
    ),
    flagbackup=False,
)
setjy(
    vis=split_ms,
    field=flux_field,
    standard="manual",
    fluxdensity=[flux_jy, 0, 0, 0],
    spix=spix,
    reffreq=f"{ref_freq_ghz}GHz",
    usescratch=True,
)

# solves
centre = ",".join(
    f"{s}:{int(nchan[science[s]] * 0.4)}~{int(nchan[science[s]] * 0.6)}" for s in split_spws
)
tab = {name: f"{split_ms}.{name}" for name in ("ap_pre_bandpass", "bandpass", "phase_offsets")}
tab.update({name: f"{split_ms}.{name}" for name in ("phase_int", "phase_inf", "ampli_inf")})
tab["flux_inf"] = f"{split_ms}.flux_inf"
common = {"vis": split_ms, "refant": refant, "minsnr": 3.0}
gaincal(
    **common,
    caltable=tab["ap_pre_bandpass"],
    field=bandpass_field,
    spw=centre,
    solint="int",
    calmode="p",
)
bandpass(
    **common,
    caltable=tab["bandpass"],
    field=bandpass_field,
    solint="inf",
    combine="scan",
    solnorm=True,
    bandtype="B",
    gaintable=[tab["ap_pre_bandpass"]],
)
gaincal(
    **common,
    caltable=tab["phase_offsets"],
    field=bandpass_field,
    solint="inf",
    combine="scan",
    calmode="p",
    gaintable=[tab["bandpass"]],
)
before = [tab["bandpass"], tab["phase_offsets"]]
for name, solint in (("phase_int", "int"), ("phase_inf", "inf")):
    gaincal(
        **common,
        caltable=tab[name],
        field=calibrators,
        solint=solint,
        calmode="p",
        gaintable=before,
    )
gaincal(
    **common,
    caltable=tab["ampli_inf"],
    field=calibrators,
    solint="inf",
    calmode="a",
    gaintable=[*before, tab["phase_int"]],
)
fluxscale(
    vis=split_ms,
    caltable=tab["ampli_inf"],
    fluxtable=tab["flux_inf"],
    reference=flux_field,
    transfer=[f for f in (bandpass_field, phase_field) if f != flux_field],
)

# one applycal per role, one split
for field, phase_table, phase_from in (
    (bandpass_field, tab["phase_int"], bandpass_field),
    (phase_field, tab["phase_inf"], phase_field),
    (target, tab["phase_inf"], phase_field),
):
    applycal(
        vis=split_ms,
        field=field,
        gaintable=[*before, phase_table, tab["flux_inf"]],
        gainfield=["", "", phase_from, phase_from],
        interp="linear,linear",
        calwt=True,
        flagbackup=False,
    )
split(vis=split_ms, outputvis=f"{split_ms}.cal", datacolumn="corrected", keepflags=True)
