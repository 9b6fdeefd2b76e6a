"""Read calibrated products and the injected truth of a demo EB, for known-answer tests."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MOUS = "uid___A001_Xdemo_X1"
DEMO_EBS = ["uid___A002_Xdemo_X1", "uid___A002_Xdemo_X2", "uid___A002_Xdemo_X3"]


def product(eb: str, suffix: str, *, root: Path, mous: str = MOUS) -> Path:
    """``<root>/results/<mous>/<eb>/<eb><suffix>``; ``root`` is the workdir of the run (the
    ``demo_run`` fixture for the demo), never the repository's own results/."""
    return root / "results" / mous / eb / f"{eb}{suffix}"


def load_truth(eb: str) -> dict:
    """The injected truth of a demo EB (written beside its raw data, shared by every workdir)."""
    return json.loads((ROOT / "resources/demo_mous/raw" / f"{eb}.truth.json").read_text())


@dataclass
class Visibilities:
    """One spw of one MS: rows x channels x correlations, with the truth spw it matches."""

    time: np.ndarray
    ant1: np.ndarray
    ant2: np.ndarray
    field: np.ndarray  # field names
    data: np.ndarray  # complex [row, chan, corr]
    flag: np.ndarray  # bool [row, chan, corr]
    freq_hz: np.ndarray
    truth_spw: dict


def read_visibilities(ms: Path, truth: dict, column: str = "DATA") -> list[Visibilities]:
    """All cross-correlation rows of ``ms`` per spectral window, matched to truth spws by frequency."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/FIELD")
    field_names = np.array(tb.getcol("NAME"))
    tb.close()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    chan_freqs = [tb.getcell("CHAN_FREQ", i) for i in range(tb.nrows())]
    tb.close()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    ddi_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(str(ms))
    result = []
    try:
        for ddi in np.unique(tb.getcol("DATA_DESC_ID")):
            sub = tb.query(f"DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2")
            if sub.nrows() == 0:  # e.g. the WVR window: autocorrelations only
                sub.close()
                continue
            freqs = chan_freqs[ddi_spw[ddi]]
            match = [
                s
                for s in truth["spws"]
                if len(s["chan_freq_hz"]) == len(freqs)
                and np.allclose(s["chan_freq_hz"], freqs, rtol=0, atol=1.0)
            ]
            assert len(match) == 1, f"{ms}: spw of DDI {ddi} matches no truth spw"
            result.append(
                Visibilities(
                    time=sub.getcol("TIME"),
                    ant1=sub.getcol("ANTENNA1"),
                    ant2=sub.getcol("ANTENNA2"),
                    field=field_names[sub.getcol("FIELD_ID")],
                    data=np.transpose(sub.getcol(column), (2, 1, 0)),
                    flag=np.transpose(sub.getcol("FLAG"), (2, 1, 0)),
                    freq_hz=np.asarray(freqs),
                    truth_spw=match[0],
                )
            )
            sub.close()
    finally:
        tb.close()
    return result


def field_truth(truth: dict, role: str) -> dict:
    return next(f for f in truth["fields"] if f["role"] == role)


def line_profile(field: dict, freq_hz: np.ndarray) -> np.ndarray:
    """Peak-normalised Gaussian profile of the field's injected line (zeros without one)."""
    line = field.get("line")
    if not line:
        return np.zeros(np.shape(freq_hz))
    x = (np.asarray(freq_hz) - line["centre_hz"]) / line["fwhm_hz"]
    return np.exp(-4 * np.log(2) * x**2)


def source_spectrum(field: dict, freq_hz: np.ndarray) -> np.ndarray:
    """Injected flux density of a point-source field (Jy) at ``freq_hz``, line included."""
    continuum = field["S0_jy"] * (np.asarray(freq_hz) / field["nu0_hz"]) ** field["spix"]
    line = field.get("line")
    return continuum + (line["flux_jy"] * line_profile(field, freq_hz) if line else 0.0)


def assert_fluxes_recovered(cal_ms: Path, truth: dict, tolerance: float = 0.03) -> None:
    """The calibrated phase calibrator and targets of ``cal_ms``, channel-averaged, within
    ``tolerance`` of their injected spectra (median over rows)."""
    fields = {f["name"]: f for f in truth["fields"] if f["role"] in ("phase", "target")}
    for vis in read_visibilities(cal_ms, truth):
        for name, field in fields.items():
            rows = vis.field == name
            data = np.ma.masked_array(vis.data[rows], vis.flag[rows])
            spectrum = source_spectrum(field, vis.freq_hz)[None, :, None]
            ratio = float(np.ma.median(np.abs((data / spectrum).mean(axis=1))))
            assert abs(ratio - 1) < tolerance, f"{name} spw {vis.truth_spw['id']}: {ratio:.4f}"


def normalisation_depression(truth: dict, field: dict, spw: int, ant1, ant2) -> np.ndarray:
    """sqrt(Ti Tj / ((Ti + Tline)(Tj + Tline))) per row, channel and pol: what the correlator's
    autocorrelation normalisation leaves on Tsys-calibrated cross-correlations of a field whose
    extended line raises the total power (1 without a line)."""
    s = truth["spws"][spw]
    tline = (
        field["line"]["antenna_temperature_k"] * line_profile(field, s["chan_freq_hz"])
        if field.get("line") and s["type"] == "FDM"
        else np.zeros(s["nchan"])
    )
    tsys = np.asarray(truth["tsys"]["field"][field["name"]]["spw"][str(spw)])  # [ant, pol, chan]
    ti = np.transpose(tsys[np.asarray(ant1)], (0, 2, 1))  # [row, chan, pol]
    tj = np.transpose(tsys[np.asarray(ant2)], (0, 2, 1))
    tl = tline[None, :, None]
    return np.sqrt(ti * tj / ((ti + tl) * (tj + tl)))


def time_index(times_mjd_s, vis: Visibilities) -> np.ndarray:
    """Index of each row's integration in a truth time axis."""
    times = np.asarray(times_mjd_s)
    index = np.array([np.argmin(np.abs(times - t)) for t in vis.time])
    assert np.all(np.abs(times[index] - vis.time) < 0.01), "integration times differ from truth"
    return index


def baseline_phase_deg(per_antenna, vis: Visibilities, t_index) -> np.ndarray:
    """phi_i(t) - phi_j(t) per row, wrapped to [-180, 180), from a truth array [ant][time]."""
    values = np.asarray(per_antenna)
    diff = values[vis.ant1, t_index] - values[vis.ant2, t_index]
    return (diff + 180.0) % 360.0 - 180.0


def true_corruption(truth: dict, vis: Visibilities) -> np.ndarray:
    """g_i g_j* B_i B_j* per row, channel and correlation (no Tsys)."""
    gains = truth["gains"]
    t_index = time_index(gains["times_mjd_s"], vis)
    g = np.asarray(gains["amp"]) * np.exp(1j * np.deg2rad(gains["phase_deg"]))  # [ant, pol, t]
    bp = truth["bandpass"]["spw"][str(vis.truth_spw["id"])]
    b = np.asarray(bp["amp"]) * np.exp(1j * np.deg2rad(bp["phase_deg"]))  # [ant, pol, chan]
    gi = g[vis.ant1, :, t_index][:, None, :]  # [row, 1, pol]
    gj = g[vis.ant2, :, t_index][:, None, :]
    bi = np.transpose(b[vis.ant1], (0, 2, 1))  # [row, chan, pol]
    bj = np.transpose(b[vis.ant2], (0, 2, 1))
    return gi * np.conj(gj) * bi * np.conj(bj)


# Jobs that a split-stage flag edit of one EB reruns (before the renorm checkpoint decides on
# renorm_table), and the per-EB plots of the QA report in page order.
SPLIT_CHAIN = {
    "flag_split",
    "setjy_flux_model",
    "spwphaseup",
    "gaincal_ap_pre_bandpass",
    "bandpass",
    "gaincal_phase_offsets",
    "gaincal_phase_int",
    "gaincal_phase_inf",
    "gaincal_ampli_inf",
    "fluxscale",
    "renorm_factors",
    "applycal_split_cal",
}
PLOT_KINDS = [
    "tsys",
    "bandpass_amplitude",
    "bandpass_phase",
    "phase_int",
    "phase_inf",
    "flux_inf",
    "calibrated_uvdist",
    "calibrated_time",
    "calibrated_frequency",
    "corrections",
]


def target_residuals(cal_ms: Path, truth: dict) -> dict[int, dict[str, float]]:
    """Per spw (truth id) of the calibrated targets of ``cal_ms``, divided by their injected
    spectra: the rms (deg) of the phases of the channel-averaged rows (each integration, baseline
    and correlation) and the amplitude of the vector average of all of them (1: the injected
    flux; decorrelation by phase errors lowers it)."""
    fields = {f["name"]: f for f in truth["fields"] if f["role"] == "target"}
    result = {}
    for vis in read_visibilities(cal_ms, truth):
        ratios = []
        for name, field in fields.items():
            rows = vis.field == name
            spectrum = source_spectrum(field, vis.freq_hz)[None, :, None]
            ratio = np.ma.masked_array(vis.data[rows] / spectrum, vis.flag[rows]).mean(axis=1)
            ratios.append(ratio.compressed())
        ratio = np.concatenate(ratios)
        phase = np.angle(ratio, deg=True)
        result[vis.truth_spw["id"]] = {
            "phase_rms_deg": float(np.sqrt(np.mean(phase**2))),
            "flux_ratio": float(np.abs(ratio.mean())),
        }
    return result
