"""The per-antenna checks (almacal.qa.antennas) on synthetic caltables with a known fault each.

The workflow-level truth test, on simulated data with injected faults, is
tests/test_antenna_faults.py; these pin what each measure does with a fault of a known size, and
that what the whole array shares (atmosphere, the reference antenna's own jump, dish sizes, the
atmosphere's lines in Tsys) is not blamed on one antenna.
"""

import numpy as np
import pytest

from almacal.qa import antennas
from almacal.qa.common import CalSpw, CalTable

pytestmark = pytest.mark.fast

NAMES = [f"DA{40 + i}" for i in range(8)]
T0 = 5.2203e9  # MJD seconds


def table(param: np.ndarray, times: np.ndarray, scans: np.ndarray | None = None) -> CalTable:
    """A one-spw caltable: param [pol, chan, ant, time] -> rows ordered by time, antenna."""
    npol, nchan, nant, ntime = param.shape
    ant = np.tile(np.arange(nant), ntime)
    rows = CalSpw(
        time=np.repeat(times, nant),
        field=np.zeros(nant * ntime, int),
        antenna=ant,
        refant=np.zeros(nant * ntime, int),
        scan=np.repeat(scans if scans is not None else np.arange(ntime) + 1, nant),
        param=np.transpose(param, (0, 1, 3, 2)).reshape(npol, nchan, ntime * nant),
        flag=np.zeros((npol, nchan, nant * ntime), bool),
        freq_hz=np.linspace(224e9, 226e9, nchan),
    )
    return CalTable("synthetic", "G Jones", NAMES[:nant], ["J1733-1304"], {1: rows})


def phases_table(phase_deg: np.ndarray) -> CalTable:
    """phase_deg [ant, time] -> a phase_inf-like table (2 pols, 1 channel)."""
    nant, ntime = phase_deg.shape
    gain = np.exp(1j * np.radians(phase_deg))
    param = np.broadcast_to(gain[None, None], (2, 1, nant, ntime)).copy()
    return table(param, T0 + 260.0 * np.arange(ntime), scans=5 + 2 * np.arange(ntime))


def drifting_phases(rng, nant=8, ntime=6) -> np.ndarray:
    """Reference antenna 0 at zero; the others drift by up to +-8 deg per step."""
    phase = np.cumsum(rng.uniform(-8, 8, (nant, ntime)), axis=1) + rng.uniform(-180, 180, (nant, 1))
    phase[0] = 0.0
    return phase


def test_a_phase_jump_is_named_with_its_antenna_and_the_scans_around_it():
    phase = drifting_phases(np.random.default_rng(1))
    phase[3, 3:] += 90.0  # between solutions 2 and 3
    found = antennas.phase_jumps(phases_table(phase), ["J1733-1304"], ["X", "Y"])
    worst = found[0]
    assert worst.antenna == "DA43"
    assert worst.value == pytest.approx(90.0, abs=16)
    assert "(scans 9 and 11)" in worst.where
    assert all(f.value < 20 for f in found[1:])


def test_the_reference_antennas_own_jump_is_blamed_on_it_not_on_the_others():
    phase = drifting_phases(np.random.default_rng(2))
    phase[1:, 3:] -= 90.0  # the reference antenna jumps: every other antenna steps by -90
    found = antennas.phase_jumps(phases_table(phase), ["J1733-1304"], ["X", "Y"])
    assert found[0].antenna == "DA40" and found[0].value == pytest.approx(90.0, abs=16)
    assert all(f.value < 20 for f in found[1:])


def gains_table(amp: np.ndarray) -> CalTable:
    nant = len(amp)
    param = np.broadcast_to(amp[None, None, :, None], (2, 1, nant, 4)).astype(complex)
    return table(param.copy(), T0 + 300.0 * np.arange(4))


def test_a_low_gain_antenna_is_measured_against_its_own_dish_size():
    amp = np.array([1.0, 1.05, 0.95, 1.02, 0.6, 0.98, 1.7, 1.75])  # DA46, DA47: 7 m dishes
    dish = [7.0 if name in ("DA46", "DA47") else 12.0 for name in NAMES]
    found = antennas.gain_amplitudes(gains_table(amp), dish)
    assert found[0].antenna == "DA44" and found[0].value == pytest.approx(0.4, abs=0.01)
    assert all(f.value < 0.08 for f in found[1:])  # the 7 m pair agrees with itself


def test_noise_is_per_antenna_id_even_when_names_repeat():
    """Real MSs (the pyuvdata EVLA MS) may repeat antenna names: ids, not names, index."""
    rng = np.random.default_rng(4)
    per_baseline = {}
    for a1 in range(6):
        for a2 in range(a1 + 1, 6):
            scale = 4.0 if 5 in (a1, a2) else 1.0  # antenna 5: twice the noise
            per_baseline[(a1, a2, 0)] = [scale * rng.uniform(0.9, 1.1, 20)]
    found = antennas._antenna_noise(per_baseline, ["ea01"] * 6, [25.0] * 6)
    assert len(found) == 1 and found[0].antenna == "ea01"  # one name: its worst id
    assert found[0].value == pytest.approx(2.0, rel=0.1)
    named = antennas._antenna_noise(per_baseline, [f"ea{i:02d}" for i in range(5)], [25.0] * 5)
    assert "5" in [f.antenna for f in named]  # an id beyond the ANTENNA table: named by its id


def test_a_birdie_stands_out_of_the_arrays_spectrum_and_a_hot_antenna_does_not():
    nchan, nant = 64, 8
    channel = np.arange(nchan)
    line = 1 + 0.8 * np.exp(-0.5 * ((channel - 40) / 3.0) ** 2)  # an atmospheric line: all see it
    rng = np.random.default_rng(3)
    level = rng.uniform(80, 120, nant)
    slope = 1 + rng.uniform(-0.03, 0.03, nant)[:, None] * (channel - 32) / 32
    tsys = level[:, None] * slope * line[None, :]  # [ant, chan]
    tsys[2, 10:13] *= 3.0  # DA42: a birdie in channels 10-12
    tsys[5] *= 2.0  # DA45: hot, flat
    param = np.broadcast_to(tsys.T[None, :, :, None], (2, nchan, nant, 1)).copy()
    found = antennas.tsys_spectral_outliers(table(param, np.array([T0])), ["X", "Y"])
    assert found[0].antenna == "DA42" and found[0].value == pytest.approx(3.0, rel=0.05)
    assert "channels 10~12" in found[0].where
    assert all(f.value < 1.1 for f in found[1:])
    levels = antennas.tsys_levels(
        {name: {"1": float(v)} for name, v in zip(NAMES, np.median(tsys, axis=1))},
        {"1": float(np.median(tsys))},
    )
    assert levels[0].antenna == "DA45" and levels[0].value > 1.6


def test_the_worst_antenna_is_always_scored_the_others_only_when_bad():
    checks = {
        "noise": [
            {"antenna": "DA41", "value": 3.0, "where": "spw 1"},
            {"antenna": "DA42", "value": 2.4, "where": "spw 1"},  # score 0.1: named too
            {"antenna": "DA43", "value": 1.9, "where": "spw 1"},  # score 0.6: named too
            {"antenna": "DA44", "value": 1.8, "where": "spw 1"},  # score 0.7: not
        ],
        "phase_jump": [{"antenna": "DA45", "value": 5.0, "where": "spw 1 X"}],
    }
    scores = antennas.antenna_scores("eb1", checks)
    named = [(s["check"], s["subject"].split()[0]) for s in scores]
    assert named == [
        ("antenna_noise", "DA41"),
        ("antenna_noise", "DA42"),
        ("antenna_noise", "DA43"),
        ("antenna_phase_jump", "DA45"),
    ]
    assert scores[-1]["score"] == 1.0
