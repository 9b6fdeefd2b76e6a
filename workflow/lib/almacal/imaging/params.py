"""Imaging parameters derived from the data, overridable in config (``imaging`` section).

- **Synthesized beam**: theta = 0.574 lambda / L80 (the ALMA Technical Handbook's estimate for
  Briggs robust 0.5), L80 the 80th percentile of the unflagged projected baseline lengths of the
  imaged field, lambda at the highest imaged frequency (the smallest beam).
- **Cell**: the beam over ``pixels_per_beam`` (5, as the pipeline's imageparams heuristics).
- **Field of view**: the primary beam of the largest dish of the data, FWHM = 1.13 lambda / D at
  the lowest imaged frequency (the largest beam), imaged out to where a Gaussian primary beam falls
  to ``pb_level`` (0.2, tclean's pblimit): a diameter of FWHM sqrt(ln(1/level) / ln 2). In a
  12 m + 7 m MOUS the combined primary beam is that of the 12 m dishes, which carry most weight.
- **Image size**: that diameter (for a mosaic plus twice its pointings' largest offset from
  the central one) in cells, rounded up to an even size whose prime factors are 2, 3
  and 5 (a fast FFT, as tclean advises).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LIGHT_SPEED = 299792458.0  # m/s
ARCSEC = math.pi / 180.0 / 3600.0  # rad
PB_FWHM_FACTOR = 1.13  # ALMA antennas: primary beam FWHM = 1.13 lambda / D
BEAM_L80_FACTOR = 0.574  # ALMA Technical Handbook: theta_res ~ 0.574 lambda / L80 (robust 0.5)


def fft_size(n: float) -> int:
    """The smallest even integer >= n whose prime factors are only 2, 3 and 5."""
    size = max(2, math.ceil(n))
    while True:
        if size % 2 == 0:
            rest = size
            for p in (2, 3, 5):
                while rest % p == 0:
                    rest //= p
            if rest == 1:
                return size
        size += 1


def primary_beam_fwhm_arcsec(frequency_hz: float, dish_m: float) -> float:
    return PB_FWHM_FACTOR * LIGHT_SPEED / frequency_hz / dish_m / ARCSEC


def beam_arcsec(frequency_hz: float, l80_m: float) -> float:
    return BEAM_L80_FACTOR * LIGHT_SPEED / frequency_hz / l80_m / ARCSEC


def diameter_at_level(fwhm: float, level: float) -> float:
    """Diameter within which a Gaussian beam of ``fwhm`` stays above ``level`` of its peak."""
    return fwhm * math.sqrt(math.log(1.0 / level) / math.log(2.0))


@dataclass(frozen=True)
class ImagingParameters:
    """Cell, size and weighting of an image, and what they were derived from (arcsec, Hz, m)."""

    cell_arcsec: float
    imsize: int
    weighting: str
    robust: float | None
    pb_level: float
    beam_estimate_arcsec: float
    l80_m: float
    max_baseline_m: float
    dish_m: float
    pb_fwhm_arcsec: float
    min_frequency_hz: float
    max_frequency_hz: float
    origin: dict  # key -> "data" or "config"

    def record(self) -> dict:
        return asdict(self)

    @property
    def cell(self) -> str:
        return f"{self.cell_arcsec:.6g}arcsec"


def derive(
    *,
    uv_distances_m: np.ndarray,
    frequencies_hz: tuple[float, float],
    dish_m: float,
    settings: dict,
    mosaic_radius_arcsec: float = 0.0,
) -> ImagingParameters:
    """The parameters of one image from its data (baseline lengths of the unflagged rows, the
    frequency range, the largest dish) and the ``imaging`` config (``cell_arcsec`` and
    ``imsize`` win when set; ``pixels_per_beam``, ``pb_level``, ``weighting``, ``robust``)."""
    uv = np.asarray(uv_distances_m, float)
    uv = uv[uv > 0]
    if uv.size == 0:
        raise ValueError("no unflagged cross-correlation data to derive the imaging parameters")
    low, high = min(frequencies_hz), max(frequencies_hz)
    l80 = float(np.percentile(uv, 80))
    beam = beam_arcsec(high, l80)
    pb = primary_beam_fwhm_arcsec(low, dish_m)
    origin = {}
    if settings.get("cell_arcsec"):
        cell, origin["cell_arcsec"] = float(settings["cell_arcsec"]), "config"
    else:
        cell, origin["cell_arcsec"] = beam / settings["pixels_per_beam"], "data"
    if settings.get("imsize"):
        imsize, origin["imsize"] = int(settings["imsize"]), "config"
    else:
        diameter = diameter_at_level(pb, settings["pb_level"]) + 2 * mosaic_radius_arcsec
        imsize = fft_size(diameter / cell)
        origin["imsize"] = "data"
    weighting = settings["weighting"]
    return ImagingParameters(
        cell_arcsec=round(cell, 6),
        imsize=imsize,
        weighting=weighting,
        robust=settings["robust"] if weighting == "briggs" else None,
        pb_level=settings["pb_level"],
        beam_estimate_arcsec=round(beam, 6),
        l80_m=round(l80, 3),
        max_baseline_m=round(float(uv.max()), 3),
        dish_m=dish_m,
        pb_fwhm_arcsec=round(pb, 6),
        min_frequency_hz=low,
        max_frequency_hz=high,
        origin=origin,
    )


def config_errors(imaging: dict, eb: str, nchan: dict[int, int]) -> list[str]:
    """The ``imaging`` config against an imported EB's science spws (id -> channels), before any
    job runs: ``cube_spws`` among them, ``continuum_channels`` naming each of them with channels
    it has."""
    from almacal.imaging import linefree

    errors = []
    unknown = sorted(set(imaging["cube_spws"]) - set(nchan))
    if unknown:
        errors.append(
            f"config: imaging.cube_spws: EB {eb}: spw(s) {unknown} are not science spws "
            f"{sorted(nchan)}"
        )
    if imaging["continuum_channels"]:
        try:
            linefree.parse_selection(imaging["continuum_channels"], nchan)
        except ValueError as err:
            errors.append(f"config: imaging.continuum_channels: EB {eb}: {err}")
    return errors


def request_errors(mous: str, request: dict | None) -> list[str]:
    """The PI's request of an MOUS (``mous.<mous>.qa2``): a resolution range [min, max]."""
    if not request:
        return []
    low, high = request["resolution_arcsec"]
    if low > high:
        return [f"config: mous.{mous}.qa2.resolution_arcsec: [{low}, {high}] is not [min, max]"]
    return []
