"""Injected antenna faults: what a reducer's QA must find, applied to the drawn corruption model.

An EB's ``faults`` (a list in its parameters) each change one antenna of the model that
``corruptions.draw_corruptions`` drew, before the data are written:

- ``phase_jump`` {antenna, deg, at_s}: the antenna's gain phase jumps by ``deg`` from ``at_s``
  seconds after the first integration on (an LO or a cable fault): every later integration.
- ``low_gain`` {antenna, factor}: the antenna's gain amplitude times ``factor`` (e.g. 0.6: 40 %
  low, a defocused or mis-pointed dish); its Tsys is unchanged, so the Tsys calibration does not
  see it and the amplitude solves do.
- ``high_tsys`` {antenna, factor}: its Tsys times ``factor`` in every spw and field (a warm
  receiver): SYSCAL, the autocorrelations and the correlation coefficients all follow.
- ``noisy`` {antenna, factor}: the thermal noise of its baselines times ``factor`` while its Tsys
  stays nominal (a faulty digitiser or correlator input): the weights do not know it.
- ``birdie`` {antenna, centre_ghz, width_mhz, tsys_factor}: its Tsys times ``tsys_factor`` in the
  channels (of every spw) within ``width_mhz`` of ``centre_ghz`` (a spurious tone in its IF):
  spikes in its Tsys spectra, more noise in those channels of its baselines.
- ``glitch`` {antenna, factor, integrations}: its gain amplitude times ``factor`` in the
  integrations (0-based indices) of the bandpass calibrator's first scan (a short receiver or
  pointing glitch): the temporary calibration of correctedampflag leaves it as outliers.

The truth file lists the faults as given (``faults``), with the antenna index and, for
``phase_jump``, the UTC of the jump (for ``glitch``, the MJD seconds of its integrations); the model's gain amplitudes and phases in the truth include
them.
"""

from typing import Any

import numpy as np

KINDS = ("phase_jump", "low_gain", "high_tsys", "noisy", "birdie", "glitch")


def _antenna_index(setup: dict, fault: dict) -> int:
    names = [a["name"] for a in setup["antennas"]]
    if fault.get("antenna") not in names:
        raise ValueError(f"fault {fault}: antenna not in the EB ({', '.join(names)})")
    return names.index(fault["antenna"])


def apply_faults(setup: dict, model: dict[str, Any]) -> list[dict]:
    """Apply the EB's ``faults`` to ``model`` (and the noise factors of ``setup``); their truth."""
    faults = setup["ebp"].get("faults") or []
    truth = []
    for fault in faults:
        kind = fault.get("kind")
        if kind not in KINDS:
            raise ValueError(f"fault {fault}: kind must be one of {', '.join(KINDS)}")
        ant = _antenna_index(setup, fault)
        entry = {**fault, "antenna_id": ant}
        if kind == "phase_jump":
            later = setup["times"] - setup["times"][0] >= float(fault["at_s"])
            model["gain_phase_deg"][ant, :, later] += float(fault["deg"])
            model["gain_phase_deg"][ant] = (model["gain_phase_deg"][ant] + 180.0) % 360.0 - 180.0
            entry["at_mjd_s"] = float(setup["times"][np.argmax(later)])
        elif kind == "low_gain":
            model["gain_amp"][ant] *= float(fault["factor"])
        elif kind == "high_tsys":
            for tsys in _tsys_arrays(model):
                tsys[ant] *= float(fault["factor"])
        elif kind == "noisy":
            factor = setup.get("noise_factor")
            if factor is None:
                factor = np.ones(len(setup["antennas"]))
            factor = np.array(factor, dtype=float)
            factor[ant] *= float(fault["factor"])
            setup["noise_factor"] = factor
        elif kind == "birdie":
            entry["channels"] = _apply_birdie(setup, model, ant, fault)
        elif kind == "glitch":
            times = _bandpass_scan_times(setup)[list(fault["integrations"])]
            model["gain_amp"][ant][:, np.isin(setup["times"], times)] *= float(fault["factor"])
            entry["times_mjd_s"] = [float(t) for t in times]
            entry["integration_s"] = float(setup["tint"])
        truth.append(entry)
    model["gains"] = model["gain_amp"] * np.exp(1j * np.radians(model["gain_phase_deg"]))
    return truth


def _bandpass_scan_times(setup: dict) -> np.ndarray:
    """The integration times of the bandpass calibrator's first (obs) scan."""
    bandpass = {f["id"] for f in setup["fields"] if f["role"] == "bandpass"}
    scan = next(s for s in setup["scans"] if s["field_id"] in bandpass and s["kind"] == "obs")
    return np.asarray(scan["times"])


def _tsys_arrays(model: dict, spw: int | None = None) -> list[np.ndarray]:
    """The distinct Tsys arrays [ant, pol, chan] of the model (fields may share one), of one spw
    or all."""
    arrays = {}
    for per_spw in model["tsys"].values():
        for w, tsys in per_spw.items():
            if spw is None or w == spw:
                arrays[id(tsys)] = tsys
    return list(arrays.values())


def _apply_birdie(setup: dict, model: dict, ant: int, fault: dict) -> dict[str, list[int]]:
    """Raise the antenna's Tsys in the channels near the tone; the channels hit, per spw."""
    centre = float(fault["centre_ghz"]) * 1e9
    half = float(fault["width_mhz"]) * 1e6 / 2
    hit = {}
    for spw in setup["corr_spws"]:
        freqs = setup["spws"][spw]["freqs"]
        channels = np.flatnonzero(np.abs(freqs - centre) <= half)
        if not channels.size:
            continue
        hit[str(spw)] = [int(channels[0]), int(channels[-1])]
        for tsys in _tsys_arrays(model, spw):
            tsys[ant, :, channels] *= float(fault["tsys_factor"])
    if not hit:
        raise ValueError(f"fault {fault}: no channel of the EB within the tone's width")
    return hit
