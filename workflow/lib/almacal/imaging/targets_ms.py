"""The imaging data of one EB (rule ``targets_ms``), as the pipeline's hif_mstransform,
hif_findcont, hif_statwt and hif_uvcontsub make them:

1. ``<eb>_targets.ms``: the science targets and science spws of ``<eb>.ms.split.cal``
   (mstransform, DATA column, spw ids kept);
2. its line-free channels per spw: found on each target's vector-averaged spectrum
   (``almacal.imaging.linefree``, the union of every target's lines), or config's
   ``imaging.continuum_channels``;
3. ``statwt`` over those channels: WEIGHT = 1 / the variance of each row's visibilities, the
   absolute weights that make the theoretical rms (``images.theoretical_rms``) a figure in Jy;
4. ``<eb>_targets_line.ms``: the continuum subtracted (``uvcontsub``, a straight line fitted
   to the line-free channels of each row), for the cubes.

The JSON (``<eb>_targets.ms.json``, the rule's output, written last) names the two MSes; an EB
without a target field (a calibrator-only EB) gets neither, and its JSON says so.

Why statwt and not Tsys: the calibrated WEIGHT column (applycal calwt=True) is 1/sigma^2 only up
to a scale the correlator and the calibration leave unknown, and a Tsys-based radiometer estimate
assumes a noise the data may not have (the demo's noise is injected in Jy, ``noise_sigma_jy``).
The scatter of the data themselves is what the image noise is made of.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from almacal import choices, jsonio
from almacal.casa_job import CasaJob
from almacal.imaging import linefree, msdata

LINE_PAD_CHANNELS = 2


def find_line_free(ms: str, targets: list[str], spws: list[int], sigma: float) -> dict:
    """Per spw: the line-free mask (no target has a line there) and per target the detected
    line channel ranges."""
    free, found = {}, {}
    for spw in spws:
        line = None
        for target in targets:
            _, spectrum, empty = msdata.field_spectrum(ms, target, spw)
            mask = linefree.line_channels(np.abs(spectrum), empty, sigma, LINE_PAD_CHANNELS)
            found.setdefault(target, {})[str(spw)] = linefree.ranges(mask)
            line = mask if line is None else line | mask
        free[spw] = ~line
        if not free[spw].any():
            raise RuntimeError(f"spw {spw}: every channel is line; set imaging.continuum_channels")
    return {"free": free, "lines": found}


def targets_ms(
    *,
    cal: str,
    eb_choices: str,
    continuum_channels: str,
    detection_sigma: float,
    targets: str,
    line: str,
    summary: str,
    log: str,
    commands: str,
) -> None:
    eb = choices.load(eb_choices)
    spws = eb.science_spws
    for path in (targets, line):
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(f"{path}.flagversions", ignore_errors=True)
    name = Path(cal).name.removesuffix(".ms.split.cal")
    if not eb.targets:  # a calibrator-only EB: no science image (said, and in the report)
        with CasaJob(log=log, commands=commands, title=f"imaging data of {Path(cal).name}") as job:
            job.note(f"not applicable: the EB has no target field (field roles {eb.roles})")
        jsonio.write(
            summary,
            {
                "eb": name,
                "targets": [],
                "science_spws": spws,
                "not_applicable": "the EB has no target field: no imaging data",
            },
        )
        return
    with CasaJob(log=log, commands=commands, title=f"imaging data of {Path(cal).name}") as job:
        job.task(
            "mstransform",
            vis=cal,
            outputvis=targets,
            field=",".join(eb.targets),
            spw=choices.spw_selection(spws),
            datacolumn="data",
            reindex=False,
        )
        freqs = msdata.spw_frequencies(targets)
        if continuum_channels:
            free = linefree.parse_selection(continuum_channels, {s: freqs[s].size for s in spws})
            found, origin = {}, "config: imaging.continuum_channels"
        else:
            result = find_line_free(targets, eb.targets, spws, detection_sigma)
            free, found = result["free"], result["lines"]
            origin = (
                f"data: each target's vector-averaged spectrum, lines beyond {detection_sigma} "
                f"sigma of its channel-to-channel noise, widened by {LINE_PAD_CHANNELS} channels"
            )
        fitspw = linefree.selection(free)
        job.note(f"line-free channels ({origin}): {fitspw}")
        job.task("statwt", vis=targets, fitspw=fitspw, datacolumn="data")
        job.task(
            "uvcontsub",
            vis=targets,
            outputvis=line,
            fitspec=fitspw,
            fitorder=1,
            datacolumn="data",
        )
    sigma = _median_sigma(targets)
    jsonio.write(
        summary,
        {
            "eb": name,
            "targets": eb.targets,
            "ms": targets,
            "line_ms": line,
            "science_spws": spws,
            "continuum_selection": fitspw,
            "origin": origin,
            "line_channels": found,
            "line_free": {
                str(spw): {
                    "channels": linefree.ranges(mask),
                    "frequency_ranges_ghz": [
                        [round(freqs[spw][a] / 1e9, 6), round(freqs[spw][b] / 1e9, 6)]
                        for a, b in linefree.ranges(mask)
                    ],
                    "fraction": round(float(mask.mean()), 4),
                    "bandwidth_mhz": round(
                        float(mask.sum() * np.median(np.abs(np.diff(freqs[spw])))) / 1e6, 3
                    ),
                }
                for spw, mask in free.items()
            },
            "statwt_sigma_jy": sigma,
        },
    )


def _median_sigma(ms: str) -> dict[str, float]:
    """Median statwt sigma (1/sqrt(WEIGHT)) per spw of the unflagged rows: the noise per
    visibility, channel and polarization."""
    from casatools import table

    tb = table()
    tb.open(ms)
    weight = tb.getcol("WEIGHT")
    ddi = tb.getcol("DATA_DESC_ID")
    tb.close()
    spw = msdata.spw_of_ddi(ms)
    out = {}
    for d in np.unique(ddi):
        w = weight[:, ddi == d]
        w = w[w > 0]
        if w.size:
            out[str(spw[int(d)])] = round(float(np.median(1.0 / np.sqrt(w))), 6)
    return out
