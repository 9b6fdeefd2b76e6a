"""Whether the WVR correction improves the phases, and which radiometers spoil them, from phase
solutions made with and without it: the ALMA pipeline's hifa_wvrgcalflag figures.

A view is an antenna x time-chunk image of phase rms (degrees) of per-integration phase solutions
on one calibrator role (bandpass, phase) and spw. The rms of an antenna in a chunk is taken about
the chunk's complex median gain, with the gains referred to each of up to eight reference
antennas in turn, and is the median over those references (so no reference antenna's own
noise or radiometer decides the figure). The improvement of a view is 1 / median(with / without)
over its antennas and chunks; the EB's is the median over views. Radiometers are flagged (wvrflag)
on the bandpass views: an antenna whose with/without ratio exceeds the view's median by more
than ``fhi_limit`` median absolute deviations (the pipeline's flag_hi rule).
"""

from dataclasses import dataclass

import numpy as np

CHUNK_GAP_S = 30.0  # a gap longer than this (or 1.5 x the median step) starts a new chunk
N_REFERENCES = 8


@dataclass
class PhaseSolutions:
    """Per-integration phase solutions of one role and spw: gain[row] (first correlation)."""

    time: np.ndarray
    antenna: np.ndarray
    gain: np.ndarray
    flag: np.ndarray


def time_chunks(times: np.ndarray, gap_s: float = CHUNK_GAP_S) -> list[np.ndarray]:
    """Sorted unique times split where the step exceeds max(1.5 x the median step, gap_s)."""
    times = np.unique(times)
    if times.size < 2:
        return [times]
    steps = np.diff(times)
    gap = max(1.5 * float(np.median(steps)), gap_s)
    return np.split(times, np.nonzero(steps >= gap)[0] + 1)


def phase_rms_view(
    sols: PhaseSolutions, nant: int, references: list[int]
) -> tuple[np.ndarray, list[float]]:
    """rms phase (deg) [antenna, chunk] (NaN without data) and the chunks' start times."""
    chunks = time_chunks(sols.time)
    times = np.unique(sols.time)
    t_index = np.searchsorted(times, sols.time)
    gains = np.full((nant, times.size), np.nan + 0j)
    ok = ~sols.flag & (sols.antenna < nant)
    gains[sols.antenna[ok], t_index[ok]] = sols.gain[ok]
    phasors = gains / np.abs(gains)
    view = np.full((nant, len(chunks)), np.nan)
    for c, chunk in enumerate(chunks):
        cols = np.searchsorted(times, chunk)
        per_ref = []
        for ref in references[:N_REFERENCES]:
            rel = phasors[:, cols] * np.conj(phasors[ref, cols])[None, :]
            rms = np.full(nant, np.nan)
            for ant in range(nant):
                g = rel[ant][np.isfinite(rel[ant])]
                if ant == ref or g.size < 2:
                    continue
                centre = complex(np.median(g.real), np.median(g.imag))
                rms[ant] = np.sqrt(np.mean(np.angle(g * np.conj(centre), deg=True) ** 2))
            per_ref.append(rms)
        if per_ref:
            stack = np.array(per_ref)
            valid = np.isfinite(stack).any(axis=0)
            view[valid, c] = np.nanmedian(stack[:, valid], axis=0)
    return view, [float(chunk[0]) for chunk in chunks]


def ratio_view(with_wvr: np.ndarray, without_wvr: np.ndarray) -> np.ndarray:
    """with / without WVR phase rms (NaN where either is missing or without is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = with_wvr / without_wvr
    ratio[~np.isfinite(ratio)] = np.nan
    return ratio


def improvement(ratio: np.ndarray) -> float | None:
    """1 / median(with / without) of a view: above 1 the WVR correction reduces the phase rms."""
    valid = ratio[np.isfinite(ratio)]
    return float(1.0 / np.median(valid)) if valid.size else None


def high_outliers(
    ratio: np.ndarray, fhi_limit: float, fhi_minsample: int, skip: set[int]
) -> tuple[set[int], float | None]:
    """Antennas with a ratio above median + fhi_limit x MAD (antennas in ``skip`` left out of
    the statistics and the result), and that limit; none when fewer than fhi_minsample values."""
    rows = np.array([a not in skip for a in range(ratio.shape[0])])
    values = ratio[rows]
    valid = values[np.isfinite(values)]
    if valid.size < fhi_minsample:
        return set(), None
    median = float(np.median(valid))
    mad = float(np.median(np.abs(valid - median)))
    limit = median + fhi_limit * mad
    with np.errstate(invalid="ignore"):
        bad = np.nonzero(rows & np.any(ratio > limit, axis=1))[0]
    return {int(a) for a in bad}, limit


def read_phase_solutions(caltable: str, field_ids: list[int]) -> dict[int, PhaseSolutions]:
    """The solutions of a per-integration phase caltable on ``field_ids``, per spw."""
    from casatools import table

    tb = table()
    tb.open(caltable)
    try:
        cols = {c: tb.getcol(c) for c in ("TIME", "ANTENNA1", "FIELD_ID", "SPECTRAL_WINDOW_ID")}
        gain, flag = tb.getcol("CPARAM")[0, 0], tb.getcol("FLAG")[0, 0]
    finally:
        tb.close()
    on = np.isin(cols["FIELD_ID"], field_ids)
    return {
        int(spw): PhaseSolutions(cols["TIME"][sel], cols["ANTENNA1"][sel], gain[sel], flag[sel])
        for spw in np.unique(cols["SPECTRAL_WINDOW_ID"][on])
        for sel in [on & (cols["SPECTRAL_WINDOW_ID"] == spw)]
    }
