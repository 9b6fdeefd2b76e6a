"""Line-free channels of a target, found from its vector-averaged
spectrum (the continuum-finding step the pipeline's hif_findcont makes on a dirty cube).

Per spw: the amplitude of the field's visibilities averaged over baselines, integrations and
parallel hands (``msdata.field_spectrum``); the continuum a straight line fitted to the channels
not (yet) taken as line, iterated; the noise of the spectrum from its channel-to-channel
differences (1.4826 MAD / sqrt 2, blind to a line much wider than a channel); a channel is line
when it departs from the continuum by more than ``detection_sigma`` x that noise, widened by
``pad`` channels on each side. Channels without data are neither.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826
ITERATIONS = 5


def spectrum_noise(amplitude: np.ndarray) -> float:
    diff = np.diff(amplitude)
    return float(MAD_TO_SIGMA * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2.0))


def line_channels(
    amplitude: np.ndarray, empty: np.ndarray, detection_sigma: float, pad: int = 2
) -> np.ndarray:
    """Boolean per channel: part of a line (emission or absorption)."""
    amplitude = np.asarray(amplitude, float)
    good = ~np.asarray(empty, bool)
    channels = np.arange(amplitude.size)
    if good.sum() < 3:
        return np.zeros(amplitude.size, bool)
    noise = spectrum_noise(amplitude[good])
    line = np.zeros(amplitude.size, bool)
    for _ in range(ITERATIONS):
        fit = good & ~line
        coeff = np.polyfit(channels[fit], amplitude[fit], 1)
        residual = amplitude - np.polyval(coeff, channels)
        found = good & (np.abs(residual) > detection_sigma * noise)
        if np.array_equal(found, line):
            break
        line = found
    widened = line.copy()
    for shift in range(1, pad + 1):
        widened[shift:] |= line[:-shift]
        widened[:-shift] |= line[shift:]
    return widened


def ranges(mask: np.ndarray) -> list[list[int]]:
    """[[first, last], ...] of the runs of True in ``mask``."""
    runs, start = [], None
    for i, value in enumerate(list(mask) + [False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append([start, i - 1])
            start = None
    return runs


def selection(free: dict[int, np.ndarray]) -> str:
    """CASA spw:channel selection of the line-free channels, e.g. '1:0~22;52~127,3'."""
    parts = []
    for spw, mask in sorted(free.items()):
        runs = ranges(mask)
        if len(runs) == 1 and runs[0] == [0, mask.size - 1]:
            parts.append(str(spw))
        else:
            parts.append(f"{spw}:" + ";".join(f"{a}~{b}" for a, b in runs))
    return ",".join(parts)


def parse_selection(text: str, nchan: dict[int, int]) -> dict[int, np.ndarray]:
    """The line-free channel masks of a CASA selection 'spw[:a~b;c~d],...' (config's
    ``imaging.continuum_channels``); every spw of ``nchan`` must be named. Raises ValueError."""
    masks: dict[int, np.ndarray] = {}
    for part in text.replace(" ", "").split(","):
        spw_text, _, chans = part.partition(":")
        if not spw_text.isdigit() or int(spw_text) not in nchan:
            raise ValueError(f"spw {spw_text!r} is not one of the science spws {sorted(nchan)}")
        spw = int(spw_text)
        mask = np.zeros(nchan[spw], bool)
        if not chans:
            mask[:] = True
        for run in filter(None, chans.split(";")):
            first, _, last = run.partition("~")
            if not (first.isdigit() and (last or first).isdigit()):
                raise ValueError(f"channel range {run!r} of spw {spw} is not 'a~b'")
            a, b = int(first), int(last or first)
            if not 0 <= a <= b < nchan[spw]:
                raise ValueError(f"channels {run} of spw {spw} outside 0~{nchan[spw] - 1}")
            mask[a : b + 1] = True
        masks[spw] = mask
    missing = sorted(set(nchan) - set(masks))
    if missing:
        raise ValueError(f"no line-free channels given for the science spw(s) {missing}")
    return masks
