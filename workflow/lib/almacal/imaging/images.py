"""One image: tclean, its theoretical and measured rms, a point-source fit, FITS export and a
PNG thumbnail. Shared by the calibrator and the target imaging jobs.

- **Theoretical rms**: casatools ``imager.apparentsens`` over the imaged selection with the
  image's weighting: sqrt(sum (W w)^2 / w) / sum (W w) for the data weights w (1/sigma^2 after
  ``statwt``) and imaging weights W, i.e. the natural-weighting point-source sensitivity times
  the weighting's loss factor (``relative_to_natural``). For a cube: of one channel.
- **Measured rms**: of the image before primary-beam correction (uniform noise) over its
  pb-limited pixels farther than ``ANNULUS_INNER_BEAMS`` beams from every pixel brighter than
  ``BRIGHT_SIGMA`` x the plane's robust noise (an annulus about a source at the phase centre;
  every source of a mosaic left out); for a cube the median over channels of the per-channel
  rms (the line channels lose only the pixels about the line).
- **Source**: ``imfit`` of one Gaussian component on the primary-beam-corrected image about its
  brightest pixel: integrated and peak flux density, position and its offset from the phase
  centre (arcsec and beams: sqrt(major x minor) of the restoring beam).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from almacal.casa_job import CasaJob

ANNULUS_INNER_BEAMS = 3.0  # emission-free: this many beams from any bright pixel
BRIGHT_SIGMA = 20.0  # bright: above this x the plane's robust noise
MIN_PIXELS = 100
IMAGE_SUFFIXES = (".image", ".pb", ".psf", ".residual", ".model", ".sumwt", ".mask", ".weight",
                  ".image.pbcor")  # fmt: skip


def theoretical_rms(vis: list[str], field: str, spws: list[str], params) -> tuple[float, float]:
    """(point-source rms in Jy/beam, loss factor relative to natural weighting) of the selection
    ``spws[i]`` of ``vis[i]`` imaged with ``params`` (casatools imager.apparentsens)."""
    from casatools import imager

    im = imager()
    try:
        for ms, spw in zip(vis, spws):
            im.selectvis(vis=ms, field=field, spw=spw)
        im.defineimage(
            nx=params.imsize, ny=params.imsize, cellx=params.cell, celly=params.cell, mode="mfs"
        )
        if params.weighting == "briggs":
            im.weight(type="briggs", robust=params.robust)
        else:
            im.weight(type=params.weighting)
        ok, rms, relative = im.apparentsens()
    finally:
        im.done()
    if not ok or not rms > 0:
        raise RuntimeError(f"imager.apparentsens found no weights for {field} in {vis}")
    return float(rms), float(relative)


def clean(
    job: CasaJob,
    *,
    vis: list[str],
    spws: list[str],
    field: str,
    imagename: str,
    params,
    threshold_jy: float,
    niter: int,
    specmode: str = "mfs",
    gridder: str = "standard",
    cube: dict | None = None,
) -> None:
    """tclean of one image (mask: the primary beam above its pb level), primary-beam corrected."""
    for suffix in IMAGE_SUFFIXES:
        shutil.rmtree(imagename + suffix, ignore_errors=True)
    job.task(
        "tclean",
        vis=vis,
        imagename=imagename,
        field=field,
        spw=spws,
        specmode=specmode,
        gridder=gridder,
        deconvolver="hogbom",
        imsize=[params.imsize, params.imsize],
        cell=params.cell,
        weighting=params.weighting,
        **({"robust": params.robust} if params.weighting == "briggs" else {}),
        niter=niter,
        threshold=f"{threshold_jy * 1e3:.6g}mJy",
        usemask="pb",
        pbmask=params.pb_level,
        pblimit=params.pb_level,
        pbcor=True,
        phasecenter=_phasecenter(vis[0], field),
        restoringbeam="common" if specmode == "cube" else [],
        **(cube or {}),
    )


def _phasecenter(ms: str, field: str) -> int:
    from almacal.imaging import msdata

    return msdata.central_field_id(ms, field)


def gridder_for(vis: list[str], field: str) -> str:
    """'mosaic' for a field of several pointings or data of several dish sizes (it grids each
    baseline with its own primary beam), 'standard' otherwise."""
    from almacal.imaging import msdata

    dishes = set().union(*(msdata.dish_sizes_m(ms) for ms in vis))
    pointings = max(msdata.mosaic_radius_arcsec(ms, field) for ms in vis)
    return "mosaic" if len(dishes) > 1 or pointings > 0 else "standard"


def beam(job: CasaJob, image: str) -> dict:
    """Restoring beam (arcsec, deg) of a CASA image (the common beam of a cube)."""
    info = job.task("imhead", imagename=image, mode="summary")
    restoring = info.get("restoringbeam") or {}
    if "major" not in restoring:  # per-plane beams: the first (tclean made them common)
        restoring = next(iter(next(iter(info["perplanebeams"]["beams"].values())).values()))
    return {
        "major_arcsec": _arcsec(restoring["major"]),
        "minor_arcsec": _arcsec(restoring["minor"]),
        "pa_deg": float(restoring["positionangle"]["value"]),
    }


def _arcsec(quantity: dict) -> float:
    factor = {"arcsec": 1.0, "deg": 3600.0, "rad": 180.0 / math.pi * 3600.0}[quantity["unit"]]
    return float(quantity["value"]) * factor


def beam_size(b: dict) -> float:
    """sqrt(major x minor), arcsec."""
    return math.sqrt(b["major_arcsec"] * b["minor_arcsec"])


def emission_free(plane: np.ndarray, valid: np.ndarray, radius_pix: float) -> np.ndarray:
    """The pixels of ``valid`` farther than ``radius_pix`` from every pixel brighter (in
    absolute value) than BRIGHT_SIGMA x the plane's robust noise (1.4826 MAD)."""
    values = plane[valid]
    noise = 1.4826 * np.median(np.abs(values - np.median(values)))
    bright = valid & (np.abs(plane) > BRIGHT_SIGMA * noise)
    if not bright.any():
        return valid
    ny, nx = plane.shape
    yy, xx = np.meshgrid(np.arange(ny) - ny // 2, np.arange(nx) - nx // 2, indexing="ij")
    disk = np.fft.ifftshift((yy**2 + xx**2 <= radius_pix**2).astype(float))
    near = np.fft.irfft2(np.fft.rfft2(bright.astype(float)) * np.fft.rfft2(disk), s=plane.shape)
    return valid & (near < 0.5)


def measured_rms(image: str, beam_arcsec: float, cell_arcsec: float) -> float:
    """rms of ``image`` (before pb correction: uniform noise) over its pb-limited pixels away
    from emission (``emission_free``, ANNULUS_INNER_BEAMS beams about every bright pixel); for a
    cube the median over channels of each channel's rms."""
    from casatools import image as casa_image

    ia = casa_image()
    ia.open(image)
    data = ia.getchunk(dropdeg=True)
    mask = ia.getchunk(getmask=True, dropdeg=True)
    ia.close()
    if data.ndim == 2:
        data, mask = data[..., None], mask[..., None]
    radius = ANNULUS_INNER_BEAMS * beam_arcsec / cell_arcsec
    rms = []
    for c in range(data.shape[-1]):
        plane, valid = data[..., c], mask[..., c] & np.isfinite(data[..., c])
        if valid.sum() < MIN_PIXELS:
            continue
        keep = emission_free(plane, valid, radius)
        if keep.sum() >= MIN_PIXELS:
            rms.append(float(np.sqrt(np.mean(plane[keep] ** 2))))
    if not rms:
        raise RuntimeError(
            f"{image}: fewer than {MIN_PIXELS} emission-free pixels: raise imaging.imsize"
        )
    return float(np.median(rms))


def fit_source(job: CasaJob, pbcor: str, phase_centre: tuple[float, float], beam_b: dict) -> dict:
    """One Gaussian fitted (imfit) about the brightest pixel of ``pbcor`` (an mfs image)."""
    from casatools import image

    ia = image()
    ia.open(pbcor)
    pixels = ia.getchunk(dropdeg=True)
    mask = ia.getchunk(getmask=True, dropdeg=True)
    ia.close()
    values = np.where(mask, pixels, -np.inf)
    x, y = np.unravel_index(int(np.argmax(values)), values.shape)
    half = max(3, int(round(3 * beam_size(beam_b) / _cell_arcsec(job, pbcor))))
    box = f"{x - half},{y - half},{x + half},{y + half}"
    fit = job.task("imfit", imagename=pbcor, box=box)
    if not fit or not fit.get("converged", [False])[0]:
        return {"fitted": False, "reason": f"imfit did not converge in box {box}"}
    comp = fit["results"]["component0"]
    ra = math.degrees(comp["shape"]["direction"]["m0"]["value"]) % 360.0
    dec = math.degrees(comp["shape"]["direction"]["m1"]["value"])
    dra = ((ra - phase_centre[0] + 180.0) % 360.0 - 180.0) * math.cos(math.radians(dec)) * 3600
    ddec = (dec - phase_centre[1]) * 3600
    offset = math.hypot(dra, ddec)
    peak = float(comp["peak"]["value"])
    flux = float(comp["flux"]["value"][0])
    return {
        "fitted": True,
        "integrated_jy": flux,
        "integrated_error_jy": float(comp["flux"]["error"][0]),
        "peak_jy_per_beam": peak,
        "peak_over_integrated": peak / flux if flux else None,
        "ra_deg": ra,
        "dec_deg": dec,
        "offset_east_arcsec": dra,
        "offset_north_arcsec": ddec,
        "offset_arcsec": offset,
        "offset_beams": offset / beam_size(beam_b),
        "peak_pixel": [int(x), int(y)],
    }


def _cell_arcsec(job: CasaJob, image: str) -> float:
    info = job.task("imhead", imagename=image, mode="summary")
    return abs(float(info["incr"][0])) * 180.0 / math.pi * 3600.0


def export(job: CasaJob, imagename: str, fits_base: Path) -> dict[str, str]:
    """The pb-corrected image and the primary beam as FITS: <fits_base>.pbcor.fits, .pb.fits."""
    out = {}
    for suffix, casa in ((".pbcor.fits", ".image.pbcor"), (".pb.fits", ".pb")):
        path = f"{fits_base}{suffix}"
        job.task("exportfits", imagename=imagename + casa, fitsimage=path, overwrite=True)
        out[suffix.strip(".").replace(".fits", "")] = Path(path).name
    return out


def thumbnail(
    pbcor: str, png: str, title: str, cube: bool = False, beam_b: dict | None = None
) -> None:
    """A PNG of ``pbcor`` (a cube: its peak over channels), offsets from the centre in arcsec,
    the restoring beam drawn in a corner."""
    import matplotlib
    import matplotlib.colors
    import matplotlib.patches

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from casatools import image

    ia = image()
    ia.open(pbcor)
    pixels = ia.getchunk(dropdeg=True)
    mask = ia.getchunk(getmask=True, dropdeg=True)
    cell = abs(ia.coordsys().increment()["numeric"][0]) * 180.0 / math.pi * 3600.0
    ia.close()
    data = np.where(mask, pixels, np.nan)
    if cube:
        data = np.nanmax(np.where(np.isfinite(data), data, -np.inf), axis=-1)
        data[~np.isfinite(data)] = np.nan
    n = data.shape[0]
    extent = [n / 2 * cell, -n / 2 * cell, -n / 2 * cell, n / 2 * cell]
    finite = data[np.isfinite(data)]
    noise = 1.4826 * np.median(np.abs(finite - np.median(finite))) if finite.size else 1.0
    # asinh-like stretch: linear within 3 x the noise (the noise shows), logarithmic above
    norm = matplotlib.colors.SymLogNorm(
        linthresh=max(3e3 * noise, 1e-9), vmin=np.nanmin(data) * 1e3, vmax=np.nanmax(data) * 1e3
    )
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    shown = ax.imshow(data.T * 1e3, origin="lower", extent=extent, cmap="inferno", norm=norm)
    fig.colorbar(shown, ax=ax, label="mJy/beam" + (" (peak over channels)" if cube else ""))
    if beam_b:
        ax.add_patch(
            matplotlib.patches.Ellipse(
                (extent[0] * 0.8, extent[2] * 0.8),
                beam_b["minor_arcsec"],
                beam_b["major_arcsec"],
                angle=-beam_b["pa_deg"],
                facecolor="none",
                edgecolor="cyan",
            )
        )
    ax.set_xlabel("RA offset (arcsec)")
    ax.set_ylabel("Dec offset (arcsec)")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def remove(imagename: str) -> None:
    for suffix in IMAGE_SUFFIXES:
        shutil.rmtree(imagename + suffix, ignore_errors=True)


def mfs_image(
    job: CasaJob,
    *,
    vis: list[str],
    spws: list[str],
    field: str,
    params,
    settings: dict,
    workdir: Path,
    fits_base: Path,
    title: str,
) -> dict:
    """A continuum (mfs) image of ``field`` with its figures: the theoretical rms first (the
    clean threshold is ``clean_threshold_sigma`` of it), then tclean, the restoring beam, the
    measured rms, the fitted source, FITS and PNG. Returns the image's record."""
    theoretical, relative = theoretical_rms(vis, field, spws, params)
    imagename = str(workdir / fits_base.name)
    clean(
        job,
        vis=vis,
        spws=spws,
        field=field,
        imagename=imagename,
        params=params,
        threshold_jy=settings["clean_threshold_sigma"] * theoretical,
        niter=settings["niter"],
        gridder=gridder_for(vis, field),
    )
    b = beam(job, imagename + ".image")
    rms = measured_rms(imagename + ".image", beam_size(b), params.cell_arcsec)
    phase_centre = _phase_centre(vis, field)
    source = fit_source(job, imagename + ".image.pbcor", phase_centre, b)
    files = export(job, imagename, fits_base)
    png = f"{fits_base}.png"
    thumbnail(imagename + ".image.pbcor", png, title, beam_b=b)
    remove(imagename)
    return {
        "field": field,
        "specmode": "mfs",
        "files": {**files, "png": Path(png).name},
        "spw_selection": dict(zip((Path(v).name for v in vis), spws)),
        "parameters": params.record(),
        "beam": b,
        "theoretical_rms_jy": theoretical,
        "weighting_loss_factor": relative,
        "measured_rms_jy": rms,
        "rms_ratio": rms / theoretical,
        "phase_centre_deg": list(phase_centre),
        "source": source,
        "dynamic_range": source.get("peak_jy_per_beam", 0.0) / rms,
    }


def _phase_centre(vis: list[str], field: str) -> tuple[float, float]:
    from almacal.imaging import msdata

    return msdata.phase_centre_deg(vis[0], field)
