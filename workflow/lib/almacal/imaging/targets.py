"""The science images of an MOUS from all its EBs' imaging data (``targets_ms``):

- ``image_continuum`` (rule ``image_continuum``): per target an mfs image of the line-free
  channels of every science spw of every EB, ``member.<mous>.<target>_sci.spw<ids>.cont.I``;
- ``image_cubes`` (rule ``image_cubes``): per target and cube spw (``imaging.cube_spws``, or
  every science spw) a cube of the continuum-subtracted data at the native channel width, LSRK,
  ``member.<mous>.<target>_sci.spw<id>.cube.I``, with the spectrum at its brightest pixel and the
  line found on it (peak, integrated flux, centre, width).

Both primary-beam corrected, exported as ``.pbcor.fits`` with ``.pb.fits`` beside them, with a
PNG. Parameters from the data of every EB (``almacal.imaging.params``); the ``mosaic`` gridder
for a mosaic or dishes of several sizes (``images.gridder_for``), ``standard`` otherwise. Cube
channels are regridded with ``interpolation='nearest'``, so each keeps the noise
of one native channel and the theoretical rms of one channel holds for it.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from almacal import jsonio
from almacal.casa_job import CasaJob
from almacal.imaging import images, msdata, params

LIGHT_SPEED_KM_S = 299792.458
LINE_EDGE_SIGMA = 2.0  # the line runs out from its peak channel until below this x rms
# a line is claimed when the brightest pixel's peak channel exceeds this x rms: a cube of ~1e5
# independent beams x channels of pure noise reaches about 5 by chance
LINE_PEAK_SIGMA = 6.0
LINE_PAD_CHANNELS = 2


def _targets(summaries: list[dict]) -> list[str]:
    names: list[str] = []
    for s in summaries:
        names += [t for t in s["targets"] if t not in names]
    return names


def _parameters(
    vis: list[str], field: str, spws: list[int], settings: dict
) -> params.ImagingParameters:
    freqs = [msdata.spw_frequencies(v) for v in vis]
    return params.derive(
        uv_distances_m=np.concatenate([msdata.uv_distances_m(v, field) for v in vis]),
        frequencies_hz=(
            min(f[s].min() for f in freqs for s in spws if s in f),
            max(f[s].max() for f in freqs for s in spws if s in f),
        ),
        dish_m=max(msdata.largest_dish_m(v) for v in vis),
        settings=settings,
        mosaic_radius_arcsec=max(msdata.mosaic_radius_arcsec(v, field) for v in vis),
    )


def spw_label(spws: list[int]) -> str:
    return "spw" + "_".join(map(str, spws))


def _image_targets(
    *, what: str, data: str, mous: str, summaries: list[str], images_dir: str, summary: str,
    log: str, commands: str, make,
) -> None:  # fmt: skip
    """One MOUS job: per target, ``make(job, tmp, out, target, use)`` with ``use`` the (MS,
    targets_ms summary) of the EBs that observed it, returning the target's image records;
    the MS is the summary's ``data`` ("ms" or "line_ms"). Without a target in any EB the
    record says so and holds no image."""
    info = [jsonio.load(s) for s in summaries]
    vis = [s.get(data) for s in info]
    out = Path(images_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    records = []
    with (
        CasaJob(log=log, commands=commands, title=f"{what} of {mous}") as job,
        tempfile.TemporaryDirectory(prefix=f"{out.name}.", dir=out.parent) as tmp,
    ):
        for target in _targets(info):
            use = [(ms, s) for ms, s in zip(vis, info) if target in s["targets"]]
            records += make(job, Path(tmp), out, target, use)
    record = {"mous": mous, "images_dir": out.name, "images": records}
    if not _targets(info):
        record["not_applicable"] = "no EB of the MOUS has a target field: no science image"
    jsonio.write(summary, record)


def image_continuum(*, mous: str, settings: dict, **paths) -> None:
    """Per target the continuum image of every EB's line-free channels (``paths``: summaries,
    the EBs' targets_ms JSON naming their ``<eb>_targets.ms``; images_dir, summary, log,
    commands)."""

    def make(job, tmp, out, target, use):
        vis = [ms for ms, _ in use]
        spws = sorted({spw for _, s in use for spw in s["science_spws"]})
        record = images.mfs_image(
            job,
            vis=vis,
            spws=[s["continuum_selection"] for _, s in use],
            field=target,
            params=_parameters(vis, target, spws, settings),
            settings=settings,
            workdir=tmp,
            fits_base=out / f"member.{mous}.{target}_sci.{spw_label(spws)}.cont.I",
            title=f"{target} continuum, {spw_label(spws)}",
        )
        first = use[0][1]["line_free"]
        record["bandwidth_mhz"] = sum(first[str(spw)]["bandwidth_mhz"] for spw in spws)
        return [{"role": "target", "ebs": [s["eb"] for _, s in use], **record}]

    _image_targets(what="continuum images", data="ms", mous=mous, make=make, **paths)


def line_figures(freq_hz: np.ndarray, spectrum: np.ndarray, rms: float) -> dict:
    """The line of a continuum-subtracted spectrum (Jy): its peak channel, the run of channels
    about it above LINE_EDGE_SIGMA x rms (widened by LINE_PAD_CHANNELS), the integrated flux over
    that run, its intensity-weighted centre and its FWHM from the second moment."""
    s = np.nan_to_num(np.asarray(spectrum, float))
    peak = int(np.argmax(s))
    if s[peak] < LINE_PEAK_SIGMA * rms:
        return {
            "detected": False,
            "peak_jy": float(s[peak]),
            "reason": f"no channel above {LINE_PEAK_SIGMA:g} rms",
        }
    lo = peak
    while lo > 0 and s[lo - 1] > LINE_EDGE_SIGMA * rms:
        lo -= 1
    hi = peak
    while hi < s.size - 1 and s[hi + 1] > LINE_EDGE_SIGMA * rms:
        hi += 1
    lo, hi = max(0, lo - LINE_PAD_CHANNELS), min(s.size - 1, hi + LINE_PAD_CHANNELS)
    width_hz = float(np.median(np.abs(np.diff(freq_hz))))
    run_f, run_s = freq_hz[lo : hi + 1], s[lo : hi + 1]
    integrated = float(run_s.sum() * width_hz)
    centre = float((run_f * run_s).sum() / run_s.sum())
    sigma = math.sqrt(max(0.0, float((run_s * (run_f - centre) ** 2).sum() / run_s.sum())))
    return {
        "detected": True,
        "peak_jy": float(s[peak]),
        "peak_channel": peak,
        "channels": [lo, hi],
        "integrated_jy_mhz": integrated / 1e6,
        "integrated_jy_km_s": integrated / centre * LIGHT_SPEED_KM_S,
        "centre_ghz": centre / 1e9,
        "fwhm_mhz": math.sqrt(8 * math.log(2)) * sigma / 1e6,
        "channel_width_mhz": width_hz / 1e6,
    }


def _spectrum(imagename: str) -> tuple[np.ndarray, np.ndarray, list[int], float]:
    """Frequencies (Hz), the pb-corrected spectrum at the cube's brightest pixel (the peak over
    channels of the image before pb correction, where the noise is uniform: a signal-to-noise
    peak, not a noise peak lifted by the correction at the edge) and the primary beam there."""
    from casatools import image

    ia = image()
    ia.open(imagename + ".image")
    flat = ia.getchunk(dropdeg=True)
    mask = ia.getchunk(getmask=True, dropdeg=True)
    cs = ia.coordsys()
    axis = cs.findaxisbyname("Frequency")
    freqs = np.array(
        [cs.toworld([0, 0, 0, c], "n")["numeric"][axis] for c in range(flat.shape[-1])]
    )
    ia.close()
    peak_map = np.where(mask, flat, -np.inf).max(axis=-1)
    x, y = np.unravel_index(int(np.argmax(peak_map)), peak_map.shape)
    spectra = {}
    for suffix in (".image.pbcor", ".pb"):
        ia.open(imagename + suffix)
        spectra[suffix] = ia.getchunk(blc=[int(x), int(y)], trc=[int(x), int(y)]).ravel()
        ia.close()
    pb = float(np.nanmax(spectra[".pb"]))
    spectrum = np.where(mask[x, y], spectra[".image.pbcor"], np.nan)
    return freqs, spectrum, [int(x), int(y)], pb


def image_cubes(*, mous: str, settings: dict, **paths) -> None:
    """Per target and cube spw a cube of the continuum-subtracted data (``paths``: summaries,
    the EBs' targets_ms JSON naming their ``<eb>_targets_line.ms``; images_dir, summary, log,
    commands)."""

    def make(job, tmp, out, target, use):
        vis = [ms for ms, _ in use]
        science = sorted({spw for _, s in use for spw in s["science_spws"]})
        wanted = settings["cube_spws"] or science
        unknown = sorted(set(wanted) - set(science))
        if unknown:
            raise ValueError(
                f"imaging.cube_spws: spw(s) {unknown} are not science spws {science} of {target}"
            )
        return [_cube(job, vis, target, spw, settings, tmp, out, mous) for spw in wanted]

    _image_targets(what="cubes", data="line_ms", mous=mous, make=make, **paths)


def _cube(job, vis, target, spw, settings, tmp: Path, out: Path, mous: str) -> dict:
    p = _parameters(vis, target, [spw], settings)
    nchan = {msdata.spw_frequencies(v)[spw].size for v in vis}.pop()
    theoretical, relative = images.theoretical_rms(
        vis, target, [f"{spw}:{nchan // 2}"] * len(vis), p
    )
    base = f"member.{mous}.{target}_sci.spw{spw}.cube.I"
    imagename = str(tmp / base)
    images.clean(
        job,
        vis=vis,
        spws=[str(spw)] * len(vis),
        field=target,
        imagename=imagename,
        params=p,
        threshold_jy=settings["clean_threshold_sigma"] * theoretical,
        niter=settings["niter"],
        specmode="cube",
        gridder=images.gridder_for(vis, target),
        cube={"outframe": "LSRK", "interpolation": "nearest", "perchanweightdensity": True},
    )
    b = images.beam(job, imagename + ".image")
    rms = images.measured_rms(imagename + ".image", images.beam_size(b), p.cell_arcsec)
    freqs, spectrum, pixel, pb = _spectrum(imagename)
    files = images.export(job, imagename, out / base)
    images.thumbnail(
        imagename + ".image.pbcor",
        str(out / f"{base}.png"),
        f"{target} spw{spw} cube",
        cube=True,
        beam_b=b,
    )
    images.remove(imagename)
    return {
        "field": target,
        "specmode": "cube",
        "spw": spw,
        "files": {**files, "png": f"{base}.png"},
        "parameters": p.record(),
        "beam": b,
        "theoretical_rms_jy": theoretical,
        "weighting_loss_factor": relative,
        "measured_rms_jy": rms,
        "rms_ratio": rms / theoretical,
        "channel_width_mhz": float(np.median(np.abs(np.diff(freqs)))) / 1e6,
        "nchan": int(freqs.size),
        "spectrum_pixel": pixel,
        "spectrum_pb": pb,
        "line": line_figures(freqs, spectrum, rms / pb),
    }
