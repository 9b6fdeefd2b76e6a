"""The check source of an EB: a point source fitted in the uv plane, its flux density, its
position offset from the phase centre (in arcsec and in synthesized beams) and its coherence.

A check source (scan intent OBSERVE_CHECK_SOURCE, ``almacal.choices.check_fields``) is a quasar
calibrated like the targets, by phase transfer from the phase calibrator. How far its fitted
position lies from its (catalogued) phase centre measures the astrometry of the phase transfer;
how much of its flux survives the vector average measures the decorrelation of the transferred
phases. Per check source (``fit_check_source``):

- **Fit**: CASA ``uvmodelfit`` (comptype 'P': flux density and position) over all science spws
  of the EB together (one fit per EB: the highest signal-to-noise; the flux is that of the
  data-weighted mean frequency). It runs on a copy of the field's rows (a deep table copy in a
  scratch folder, spw and field ids kept), because ``uvmodelfit`` adds MODEL_DATA and CORRECTED_DATA columns to the MS it fits.
  The data are the DATA column (the calibrated MS's calibrated data).
- **Offset**: the fitted direction's direction cosines (l, m) about the field's PHASE_DIR:
  l = RA offset x cos(dec) (east positive), m = Dec offset (north positive), in arcsec, and their
  quadrature sum.
- **Synthesized beam**: estimated from the uv distribution of the unflagged data with their
  weights (natural weighting): the Gaussian whose curvature at the peak equals the dirty beam's,
  FWHM_i = sqrt(8 ln 2) / (2 pi sqrt(lambda_i)), lambda_i the eigenvalues of the weighted second
  moments of (u, v) in wavelengths, per channel. The beam is the geometric mean of the two axes,
  sqrt(major x minor), as the ALMA pipeline's check-source QA takes its restoring beam's;
  lambda / B_max of the longest unflagged baseline is given beside it.
- **Coherence**: the vector-averaged amplitude (the fitted flux) over the scalar-averaged
  amplitude of the same samples. The scalar average is taken per integration, baseline and
  correlation, channel-averaged after rotating the phases to the fitted position (so that the
  offset itself does not decorrelate): the debiased rms amplitude
  sqrt(sum w (|V|^2 - s^2) / sum w), where s^2 is the noise variance of the channel average
  estimated from the channel-to-channel scatter of that sample (E|V + n|^2 = |V|^2 + s^2, so
  the noise bias of the amplitudes is removed at any signal-to-noise). Phase errors that vary
  between integrations (phase-transfer residuals) lower the vector average and not the scalar
  one: per-antenna Gaussian phase errors of sigma rad give exp(-sigma^2) (baseline phase rms
  sigma sqrt(2): exp(-sigma_baseline^2 / 2)).
- **Errors**: from the data: the noise scale c = mean(w s^2) over the samples (weights taken
  as 1 / variance up to that scale), the flux error sqrt(c / (2 sum w)) and the position
  covariance from the Fisher matrix of the point-source model, c / (8 pi^2 S^2) x M^-1 with M
  the weighted (u, v) second-moment sums.

``qa_check_source`` is the job (rule ``qa_check_source``): every check source of the EB, or a
JSON saying that the EB has none. Scores: ``check_source_scores`` (checks
``check_source_offset`` and ``check_source_coherence`` of ``almacal.qa.scores``).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from almacal import choices, jsonio
from almacal.casa_job import CasaJob
from almacal.qa import common as qa_common
from almacal.qa import scores as qa_scores

LIGHT_SPEED = 299792458.0  # m/s
ARCSEC = math.pi / 180.0 / 3600.0  # rad
FWHM_PER_SIGMA = math.sqrt(8.0 * math.log(2.0))
PARALLEL_HANDS = {1, 5, 8, 9, 12}  # Stokes codes I, RR, LL, XX, YY (casacore)
CHUNK_ROWS = 10000
NITER = 8  # uvmodelfit iterations (it converges in 4-5 on the test data)
BEAM_METHOD = (
    "natural-weighting uv second moments (Gaussian of the dirty beam's curvature), "
    "geometric mean sqrt(major x minor)"
)
NO_CHECK_SOURCE = "no check source in this EB"


@dataclass(frozen=True)
class CheckSourceFit:
    """The point-source fit of one check source, and what it gives (angles in arcsec)."""

    field: str
    spws: list[int]
    fitted: bool
    reason: str = ""  # why not fitted
    frequency_ghz: float | None = None  # weighted mean frequency of the fitted data
    flux_jy: float | None = None  # uvmodelfit's flux density (the vector average)
    flux_error_jy: float | None = None
    offset_ra_arcsec: float | None = None  # RA offset x cos(dec), east positive
    offset_dec_arcsec: float | None = None
    offset_arcsec: float | None = None
    offset_error_arcsec: float | None = None
    beam_arcsec: float | None = None  # sqrt(major x minor)
    beam_major_arcsec: float | None = None
    beam_minor_arcsec: float | None = None
    beam_pa_deg: float | None = None
    lambda_over_bmax_arcsec: float | None = None
    offset_beams: float | None = None
    vector_average_jy: float | None = None  # own weighted mean of the rotated data (check)
    vector_phase_deg: float | None = None
    scalar_average_jy: float | None = None  # debiased rms amplitude per integration
    coherence: float | None = None  # flux_jy / scalar_average_jy
    samples: int = 0  # channel-averaged (row, correlation) samples used
    phase_centre_deg: list[float] = field(default_factory=list)  # [ra, dec]
    fitted_position_deg: list[float] = field(default_factory=list)
    per_spw: dict = field(default_factory=dict)  # spw -> vector, scalar, coherence

    def record(self) -> dict:
        """JSON-ready: floats rounded, non-finite values as None."""

        def clean(value):
            if isinstance(value, float):
                return round(value, 9) if math.isfinite(value) else None
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        return {**clean(asdict(self)), "beam_method": BEAM_METHOD}


# Reading the MS.


def _field_phase_centre(ms: str, name: str) -> tuple[int, float, float, str]:
    """Field id, PHASE_DIR (ra, dec in rad) and its frame of the (single) field ``name``."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/FIELD")
    try:
        names = list(tb.getcol("NAME"))
        ids = [i for i, n in enumerate(names) if n == name]
        if not ids:
            raise ValueError(f"{ms}: no field {name!r}")
        if len(ids) > 1:
            raise ValueError(f"{ms}: check source {name!r} has {len(ids)} pointings (a mosaic)")
        ra, dec = tb.getcell("PHASE_DIR", ids[0])[:, 0]
        info = tb.getcolkeyword("PHASE_DIR", "MEASINFO")
        frame = info.get("Ref", "J2000") if isinstance(info, dict) else "J2000"
    finally:
        tb.close()
    return ids[0], float(ra), float(dec), str(frame)


def _layout(ms: str) -> tuple[dict[int, int], dict[int, list[int]], list[np.ndarray]]:
    """DATA_DESC_ID -> spw, DATA_DESC_ID -> parallel-hand correlation indices, channel freqs."""
    from casatools import table

    _, ddi_spw, freqs = qa_common.ms_layout(ms)
    tb = table()
    tb.open(f"{ms}/POLARIZATION")
    corr_types = [list(tb.getcell("CORR_TYPE", i)) for i in range(tb.nrows())]
    tb.close()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    pol_of = [int(p) for p in tb.getcol("POLARIZATION_ID")]
    tb.close()
    parallel = {
        ddi: [i for i, c in enumerate(corr_types[pol_of[ddi]]) if int(c) in PARALLEL_HANDS]
        for ddi in ddi_spw
    }
    return ddi_spw, parallel, freqs


def _copy_field(ms: str, field_id: int, spws: list[int], copy: str) -> int:
    """The cross-correlation rows of field ``field_id`` and ``spws`` of ``ms`` as an MS of their
    own (a deep copy: ids of fields and spws kept, subtables copied); its number of rows."""
    from casatools import table

    ddi_spw, _, _ = _layout(ms)
    ddis = [ddi for ddi, spw in ddi_spw.items() if spw in spws]
    tb = table()
    tb.open(ms)
    try:
        sub = tb.query(
            f"FIELD_ID=={field_id} && ANTENNA1!=ANTENNA2 && DATA_DESC_ID IN {ddis}",
            sortlist="TIME,DATA_DESC_ID,ANTENNA1,ANTENNA2",
        )
        try:
            n = sub.nrows()
            if n:
                sub.copy(copy, deep=True, valuecopy=True).close()
        finally:
            sub.close()
    finally:
        tb.close()
    return n


def _unflagged_values(ms: str) -> int:
    """Unflagged parallel-hand cross-correlation values of ``ms``."""
    from casatools import table

    ddi_spw, parallel, _ = _layout(ms)
    count = 0
    tb = table()
    tb.open(ms)
    try:
        for ddi in sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID"))):
            sub = tb.query(f"DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2 && !FLAG_ROW")
            try:
                n = sub.nrows()
                for start in range(0, n, CHUNK_ROWS):
                    flag = sub.getcol("FLAG", startrow=start, nrow=min(CHUNK_ROWS, n - start))
                    count += int((~flag[parallel[ddi]]).sum())
            finally:
                sub.close()
    finally:
        tb.close()
    return count


@dataclass
class _Sums:
    """Weighted sums over the channel-averaged samples (and their channels) of one or all spws."""

    w: float = 0.0  # sum of sample weights
    vector: complex = 0j  # sum w Vbar (rotated to the fitted position)
    power: float = 0.0  # sum w (|Vbar|^2 - s^2)
    noise: float = 0.0  # sum w s^2
    samples: int = 0
    freq: float = 0.0  # sum w f (mean frequency)
    muu: float = 0.0  # per-channel weighted second moments of (u, v), wavelengths^2
    mvv: float = 0.0
    muv: float = 0.0
    mw: float = 0.0  # sum of the per-channel weights
    uvmax: float = 0.0  # longest unflagged baseline, wavelengths

    def add(self, other: "_Sums") -> None:
        for name in ("w", "vector", "power", "noise", "samples", "freq", "muu", "mvv", "muv", "mw"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.uvmax = max(self.uvmax, other.uvmax)


def _chunk_sums(
    data: np.ndarray,
    flag: np.ndarray,
    weight: np.ndarray,
    uvw: np.ndarray,
    freqs: np.ndarray,
    lm: tuple[float, float],
) -> _Sums:
    """Sums of one chunk of rows of one spw: data/flag [corr, chan, row], weight [corr, row]."""
    nchan = data.shape[1]
    u = uvw[0][None, :] * freqs[:, None] / LIGHT_SPEED  # [chan, row], wavelengths
    v = uvw[1][None, :] * freqs[:, None] / LIGHT_SPEED
    rotated = data * np.exp(-2j * np.pi * (u * lm[0] + v * lm[1]))[None, :, :]
    good = ~flag & (weight[:, None, :] > 0)
    n = good.sum(axis=1)  # [corr, row]
    use = n >= 2  # the noise of a sample comes from its channel scatter
    good &= use[:, None, :]
    n_safe = np.where(use, n, 1)
    vbar = np.where(good, rotated, 0).sum(axis=1) / n_safe
    scatter = (np.abs(rotated - vbar[:, None, :]) ** 2 * good).sum(axis=1)
    s2 = scatter / (np.maximum(n_safe - 1, 1) * n_safe)  # variance of the channel average
    w = np.where(use, weight * n / nchan, 0.0)  # weight of the channel average
    wc = np.where(good, (weight / nchan)[:, None, :], 0.0)  # per-channel weights
    chan_w = wc.sum(axis=0)  # [chan, row]
    uv = np.hypot(u, v)
    return _Sums(
        w=float(w.sum()),
        vector=complex((w * vbar).sum()),
        power=float((w * (np.abs(vbar) ** 2 - s2)).sum()),
        noise=float((w * s2).sum()),
        samples=int(use.sum()),
        freq=float((chan_w * freqs[:, None]).sum()),
        muu=float((chan_w * u**2).sum()),
        mvv=float((chan_w * v**2).sum()),
        muv=float((chan_w * u * v).sum()),
        mw=float(chan_w.sum()),
        uvmax=float(uv[good.any(axis=0)].max()) if good.any() else 0.0,
    )


def _data_sums(ms: str, lm: tuple[float, float]) -> dict[int, _Sums]:
    """Per spw: the sums of the parallel-hand cross-correlations of ``ms`` (DATA column)."""
    from casatools import table

    ddi_spw, parallel, freqs = _layout(ms)
    per_spw: dict[int, _Sums] = {}
    tb = table()
    tb.open(ms)
    try:
        for ddi in sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID"))):
            if not parallel[ddi]:
                continue
            spw = ddi_spw[ddi]
            sub = tb.query(f"DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2 && !FLAG_ROW")
            try:
                n = sub.nrows()
                for start in range(0, n, CHUNK_ROWS):  # bounded memory on large MSs
                    rows = {"startrow": start, "nrow": min(CHUNK_ROWS, n - start)}
                    sums = _chunk_sums(
                        sub.getcol("DATA", **rows)[parallel[ddi]],
                        sub.getcol("FLAG", **rows)[parallel[ddi]],
                        sub.getcol("WEIGHT", **rows)[parallel[ddi]],
                        sub.getcol("UVW", **rows),
                        np.asarray(freqs[spw], float),
                        lm,
                    )
                    per_spw.setdefault(spw, _Sums()).add(sums)
            finally:
                sub.close()
    finally:
        tb.close()
    return per_spw


# What the sums give.


def beam_from_moments(muu: float, mvv: float, muv: float) -> tuple[float, float, float]:
    """(major, minor FWHM in arcsec, position angle in deg east of north) of the Gaussian with
    the dirty beam's curvature, from the normalised second moments of (u, v) in wavelengths."""
    moments = np.array([[muu, muv], [muv, mvv]])
    values, vectors = np.linalg.eigh(moments)  # ascending: the smallest uv spread first
    major, minor = (FWHM_PER_SIGMA / (2 * math.pi * math.sqrt(x)) / ARCSEC for x in values)
    east, north = vectors[:, 0]  # direction of the smallest uv spread: the major axis
    pa = math.degrees(math.atan2(east, north)) % 180.0
    return major, minor, pa


def _direction_offset(
    ra0: float, dec0: float, ra: float, dec: float
) -> tuple[float, float]:  # rad -> direction cosines (l east, m north), rad
    dra = ra - ra0
    ell = math.cos(dec) * math.sin(dra)
    em = math.sin(dec) * math.cos(dec0) - math.cos(dec) * math.sin(dec0) * math.cos(dra)
    return ell, em


def _read_component(path: str, frame: str) -> tuple[float, float, float]:
    """Flux density (Stokes I, Jy) and direction (ra, dec in rad, in ``frame``) of the fit."""
    from casatools import componentlist, measures

    cl = componentlist()
    me = measures()
    cl.open(path)
    try:
        flux = float(cl.getfluxvalue(0)[0])
        direction = cl.getrefdir(0)
    finally:
        cl.close()
        cl.done()
    if direction["refer"] != frame:
        direction = me.measure(direction, frame)
    me.done()
    return flux, float(direction["m0"]["value"]), float(direction["m1"]["value"])


def _spw_entry(sums: _Sums, flux: float | None = None) -> dict:
    vector = sums.vector / sums.w if sums.w else complex("nan")
    scalar = math.sqrt(sums.power / sums.w) if sums.w and sums.power > 0 else float("nan")
    numerator = vector.real if flux is None else flux
    return {
        "frequency_ghz": sums.freq / sums.mw / 1e9 if sums.mw else None,
        "vector_average_jy": vector.real,
        "scalar_average_jy": scalar,
        "coherence": numerator / scalar if math.isfinite(scalar) else float("nan"),
        "samples": sums.samples,
    }


def fit_check_source(
    ms: str, field_name: str, spws: list[int], *, job: CasaJob, work_dir: str | Path
) -> CheckSourceFit:
    """Fit a point source to field ``field_name`` of the calibrated ``ms`` over ``spws`` (module
    docstring: fit, offset, beam, coherence); the CASA calls go through ``job``. ``work_dir``
    receives the scratch copy of the field's data and the component list (removed after)."""
    field_id, ra0, dec0, frame = _field_phase_centre(ms, field_name)
    base = {
        "field": field_name,
        "spws": sorted(int(s) for s in spws),
        "phase_centre_deg": [math.degrees(ra0) % 360.0, math.degrees(dec0)],
    }
    scratch = Path(tempfile.mkdtemp(prefix=f"check_{field_id}_", dir=work_dir))
    try:
        copy, component = str(scratch / "field.ms"), str(scratch / "fit.cl")
        # uvmodelfit writes MODEL_DATA/CORRECTED_DATA into the MS it fits: fit a copy
        rows = _copy_field(ms, field_id, base["spws"], copy)
        job.note(f"{field_name}: {rows} rows of {ms} (science spws) copied to {copy} for the fit")
        if rows == 0:
            return CheckSourceFit(**base, fitted=False, reason="no cross-correlation data")
        if _unflagged_values(copy) == 0:
            return CheckSourceFit(**base, fitted=False, reason="no unflagged data")
        job.task(
            "uvmodelfit",
            vis=copy,
            field="",
            spw="",
            niter=NITER,
            comptype="P",
            sourcepar=[1.0, 0.0, 0.0],
            outfile=component,
        )
        flux, ra, dec = _read_component(component, frame)
        lm = _direction_offset(ra0, dec0, ra, dec)
        per_spw = _data_sums(copy, lm)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = _Sums()
    for sums in per_spw.values():
        total.add(sums)
    if not total.w or not total.mw:
        return CheckSourceFit(**base, fitted=False, reason="no samples with 2 or more channels")
    major, minor, pa = beam_from_moments(
        total.muu / total.mw, total.mvv / total.mw, total.muv / total.mw
    )
    beam = math.sqrt(major * minor)
    # errors: noise scale c = mean of w s^2 over the samples (w = 1/variance up to c)
    noise_scale = total.noise / total.samples
    flux_error = math.sqrt(noise_scale / (2 * total.w))
    fisher = (8 * math.pi**2 * flux**2 / noise_scale) * np.array(
        [[total.muu, total.muv], [total.muv, total.mvv]]
    )
    covariance = np.linalg.inv(fisher)  # rad^2, (l, m)
    offset = math.hypot(*lm)
    gradient = np.array(lm) / offset if offset > 0 else np.array([1.0, 0.0]) / math.sqrt(2)
    offset_error = math.sqrt(float(gradient @ covariance @ gradient)) / ARCSEC
    entry = _spw_entry(total, flux)
    return CheckSourceFit(
        **base,
        fitted=True,
        frequency_ghz=entry["frequency_ghz"],
        flux_jy=flux,
        flux_error_jy=flux_error,
        offset_ra_arcsec=lm[0] / ARCSEC,
        offset_dec_arcsec=lm[1] / ARCSEC,
        offset_arcsec=offset / ARCSEC,
        offset_error_arcsec=offset_error,
        beam_arcsec=beam,
        beam_major_arcsec=major,
        beam_minor_arcsec=minor,
        beam_pa_deg=pa,
        lambda_over_bmax_arcsec=1.0 / total.uvmax / ARCSEC,
        offset_beams=offset / ARCSEC / beam,
        vector_average_jy=entry["vector_average_jy"],
        vector_phase_deg=math.degrees(math.atan2(total.vector.imag, total.vector.real)),
        scalar_average_jy=entry["scalar_average_jy"],
        coherence=entry["coherence"],
        samples=total.samples,
        fitted_position_deg=[math.degrees(ra) % 360.0, math.degrees(dec)],
        per_spw={str(spw): _spw_entry(sums) for spw, sums in sorted(per_spw.items())},
    )


# Scores and the job.


def check_source_scores(eb: str, fits: list[dict]) -> list[dict]:
    """The check-source checks of ``almacal.qa.scores`` for the worst check source of the EB
    (the largest offset in beams, the lowest coherence); a fit that failed scores 0."""
    if not fits:
        return []

    def worst(key: str, largest: bool) -> tuple[float | None, str]:
        failed = [f for f in fits if f.get(key) is None]
        if failed:
            return None, f"{failed[0]['field']}: not fitted ({failed[0].get('reason') or '?'})"
        pick = (max if largest else min)(fits, key=lambda f: f[key])
        if key == "offset_beams":
            detail = f"{pick['offset_arcsec']:.4f} arcsec, beam {pick['beam_arcsec']:.3f} arcsec"
        else:
            detail = f"{pick['flux_jy']:.4g} Jy fitted, {pick['scalar_average_jy']:.4g} Jy scalar"
        return pick[key], f"{pick['field']} ({detail})"

    return [
        qa_scores.make_score("check_source_offset", eb, *worst("offset_beams", largest=True)),
        qa_scores.make_score("check_source_coherence", eb, *worst("coherence", largest=False)),
    ]


def qa_check_source(*, cal: str, eb_choices: str, output: str, log: str, commands: str) -> None:
    """The check sources of one EB (rule qa_check_source): ``<eb>.check_source.json``."""
    ebc = choices.load(eb_choices)
    eb = qa_common.eb_name(ebc.metadata)
    checks = ebc.checks
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fits = []
    with CasaJob(log=log, commands=commands, title=f"Check sources of {eb}") as job:
        if not checks:
            job.note(f"{eb}: {NO_CHECK_SOURCE}")
        for name in checks:
            fit = fit_check_source(cal, name, ebc.science_spws, job=job, work_dir=out.parent)
            fits.append(fit.record())
            job.note(
                f"{name}: "
                + (
                    f"{fit.flux_jy:.5g} Jy, offset {fit.offset_arcsec:.4f} arcsec = "
                    f"{fit.offset_beams:.3f} beam, coherence {fit.coherence:.4f}"
                    if fit.fitted
                    else f"not fitted: {fit.reason}"
                )
            )
    jsonio.write(
        out,
        {
            "eb": eb,
            "ms": Path(cal).name,
            "check_sources": checks,
            "note": "" if checks else NO_CHECK_SOURCE,
            "fits": fits,
            "scores": qa_scores.worst_first(check_source_scores(eb, fits)),
        },
    )
