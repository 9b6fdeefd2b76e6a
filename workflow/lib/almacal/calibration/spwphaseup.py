"""Phase SNR of the phase calibrator per spw and the spw map of the phase solutions, as the ALMA
pipeline's hifa_spwphaseup decides them ({eb}.ms.split.spwphaseup.json).

The per-antenna phase SNR of a gaincal solution with the phase_inf solution interval is
estimated per science spw from the phase calibrator's own visibilities in {eb}.ms.split (Tsys
applied, nothing else):

    snr = S / sigma * sqrt(n_chan * n_int * (n_ant - 1))

sigma: the noise per channel, integration and real (or imaginary) part, from the differences of
adjacent channels (the source and the smooth bandpass cancel; the median of |d|^2 of a complex
gaussian difference is 4 sigma^2 ln 2); S: the source's correlated amplitude, from the
channel-averaged visibility of each row with its noise bias removed (<|V|^2> - 2 sigma^2 / n_chan);
n_chan the unflagged channels of a row, n_int the integrations in one solution interval (the
median phase-calibrator scan, or fewer for a shorter solint), n_ant the antennas with data. The
gain amplitudes cancel in S / sigma. The phase error of one solution is about 1 / snr radians
(per polarization: the solves are gaintype G). The pipeline estimates the same figure from the
calibrator's catalogue flux, Tsys, bandwidth and integration time; measuring it on the data needs
neither and sees flags.

A spw whose snr is below ``phasesnr`` (the pipeline's default is 32) takes the phase solutions of
another spw (snr_n2wspwmap): one that passes, in the same baseband if one does (the pipeline's
samebb), the highest snr among them. When no spw passes, a low spw is mapped to the spw with the
highest snr all the same, and the file says that even that one is below the threshold. With
``mode: never`` the map is the identity whatever the snr. The per-spw phase offsets that a map
would otherwise carry over from one spw to another are solved on the bandpass calibrator
(the solve table's phase_offsets) and applied before the phase solves.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from almacal import choices, jsonio
from almacal.casa_job import CasaJob
from almacal.chunks import row_chunks

LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class SpwSnr:
    """The phase SNR of one spw and the figures it is made of."""

    spw: int
    baseband: int
    snr: float
    signal_jy: float
    noise_jy: float  # per channel, integration and real part
    n_chan: int
    n_int: int
    n_ant: int


# visibilities (rows x channels x polarizations) read at a time: the job's memory stays bounded
# whatever the size of the EB (the per-row reductions are kept, a few values per row)
CHUNK_VISIBILITIES = 2**22


@dataclass
class RowReduction:
    """The phase calibrator's rows of one spw, reduced chunk by chunk: per row and polarization
    the mean of the unflagged channels and their number; per chunk the median adjacent-channel
    difference power and how many differences it is the median of."""

    means: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    noise_medians: list = field(default_factory=list)
    noise_samples: list = field(default_factory=list)

    def add(self, data: np.ndarray, flag: np.ndarray) -> None:
        """Add the rows ``data``/``flag`` [row, chan, pol]."""
        good = ~flag
        n = good.sum(axis=1)  # [row, pol]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.means.append(np.where(good, data, 0).sum(axis=1) / n)
        self.counts.append(n)
        diff = data[:, 1:, :] - data[:, :-1, :]
        power = np.abs(diff[good[:, 1:, :] & good[:, :-1, :]]) ** 2
        if power.size:
            self.noise_medians.append(float(np.median(power)))
            self.noise_samples.append(int(power.size))

    def sigma(self) -> float:
        """Noise per real part: from the median difference power (the weighted median of the
        chunks' medians; the median itself when the rows fit in one chunk)."""
        if not self.noise_medians:
            return float("nan")
        order = np.argsort(self.noise_medians)
        cumulative = np.cumsum(np.asarray(self.noise_samples)[order])
        middle = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
        return float(np.sqrt(np.asarray(self.noise_medians)[order][middle] / (4.0 * LN2)))

    def signal(self, sigma: float) -> tuple[float, int]:
        """Debiased source amplitude from the channel-averaged rows, and the median unflagged
        channels per row and polarization."""
        if not self.counts:
            return float("nan"), 0
        mean, n = np.concatenate(self.means), np.concatenate(self.counts)
        use = n > 0
        if not use.any():
            return float("nan"), 0
        power = np.mean(np.abs(mean[use]) ** 2 - 2.0 * sigma**2 / n[use])
        return float(np.sqrt(max(power, 0.0))), int(np.median(n[use]))

    def rows_with_data(self) -> np.ndarray:
        return np.concatenate(self.counts).sum(axis=1) > 0


def integrations_per_solint(times: np.ndarray, scans: np.ndarray, solint: str, tint: float) -> int:
    """Integrations in one solution interval: the median scan's for 'inf', one for 'int', else
    the solint's length in integrations (at most the median scan's)."""
    per_scan = [np.unique(times[scans == s]).size for s in np.unique(scans)]
    n_scan = int(np.median(per_scan)) if per_scan else 0
    if solint == "inf":
        return n_scan
    if solint == "int":
        return 1
    return max(1, min(n_scan, int(round(solint_seconds(solint) / tint))))


def solint_seconds(solint: str) -> float:
    text = str(solint).strip()
    for unit, scale in (("min", 60.0), ("h", 3600.0), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def spw_snr(
    spw: int, baseband: int, data, flag, ant1, ant2, times, scans, solint: str, tint: float
) -> SpwSnr:
    """The phase SNR of one spw from the phase calibrator's cross-correlations [row, chan, pol]."""
    rows = RowReduction()
    rows.add(data, flag)
    return reduced_spw_snr(spw, baseband, rows, ant1, ant2, times, scans, solint, tint)


def reduced_spw_snr(
    spw: int,
    baseband: int,
    rows: RowReduction,
    ant1,
    ant2,
    times,
    scans,
    solint: str,
    tint: float,
) -> SpwSnr:
    """The phase SNR of one spw from the reduced rows of the phase calibrator."""
    sigma = rows.sigma()
    signal, n_chan = rows.signal(sigma)
    n_int = integrations_per_solint(times, scans, solint, tint)
    with_data = rows.rows_with_data()
    n_ant = np.unique(np.concatenate([ant1[with_data], ant2[with_data]])).size
    usable = np.isfinite(signal) and np.isfinite(sigma) and sigma > 0
    snr = signal / sigma * np.sqrt(n_chan * n_int * max(n_ant - 1, 0)) if usable else 0.0
    return SpwSnr(
        spw=int(spw),
        baseband=int(baseband),
        snr=round(float(snr), 2),
        signal_jy=round(float(np.nan_to_num(signal)), 6),
        noise_jy=round(float(np.nan_to_num(sigma)), 6),
        n_chan=n_chan,
        n_int=n_int,
        n_ant=int(n_ant),
    )


def spw_map(snrs: list[SpwSnr], threshold: float) -> dict[int, dict]:
    """Per spw the spw whose phase solutions it takes and why (snr_n2wspwmap, samebb)."""
    passing = [s for s in snrs if s.snr >= threshold]
    best = max(snrs, key=lambda s: s.snr)
    decisions = {}
    for s in snrs:
        if s.snr >= threshold:
            decisions[s.spw] = {"to": s.spw, "reason": f"snr {s.snr:.1f} >= {threshold:g}"}
            continue
        same = [p for p in passing if p.baseband == s.baseband]
        pool = same or passing
        if pool:
            to = max(pool, key=lambda p: p.snr)
            where = "same baseband" if same else "no passing spw in its baseband"
            reason = f"snr {s.snr:.1f} < {threshold:g}: spw {to.spw} ({where}, snr {to.snr:.1f})"
            decisions[s.spw] = {"to": to.spw, "reason": reason}
        else:
            decisions[s.spw] = {
                "to": best.spw,
                "reason": f"snr {s.snr:.1f} < {threshold:g} and no spw passes: the highest, spw "
                f"{best.spw} (snr {best.snr:.1f}), itself below the threshold",
            }
    return decisions


def casa_spwmap(decisions: dict[int, dict]) -> list[int]:
    """The gaincal/applycal spwmap (one entry per spw id up to the highest science spw); [] for
    the identity."""
    if all(d["to"] == spw for spw, d in decisions.items()):
        return []
    mapping = list(range(max(decisions) + 1))
    for spw, d in decisions.items():
        mapping[spw] = d["to"]
    return mapping


def decide(snrs: list[SpwSnr], mode: str, threshold: float) -> dict:
    """The decision file's content from the per-spw snr."""
    if mode == "never":
        decisions = {s.spw: {"to": s.spw, "reason": "mode never"} for s in snrs}
    else:
        decisions = spw_map(snrs, threshold)
    spwmap = casa_spwmap(decisions)
    best = max(snrs, key=lambda s: s.snr) if snrs else None
    mapped = sorted(spw for spw, d in decisions.items() if d["to"] != spw)
    return {
        "mode": mode,
        "phasesnr": threshold,
        "spws": [{**asdict(s), "mapped_to": decisions[s.spw]["to"]} for s in snrs],
        "reasons": {str(spw): d["reason"] for spw, d in decisions.items()},
        "spwmap": spwmap,
        "mapped_spws": mapped,
        "best_spw_below_threshold": bool(best is not None and best.snr < threshold),
        "method": "per-antenna phase SNR of one solution: S / sigma * sqrt(n_chan * n_int * "
        "(n_ant - 1)), sigma from adjacent-channel differences, S the debiased channel-averaged "
        "amplitude, both on the phase calibrator's cross-correlations",
    }


def load_spwmap(path: str) -> list[int]:
    """The spwmap of a decision file ([] for the identity)."""
    return list(jsonio.load(path)["spwmap"])


def _phase_calibrator_rows(vis: str, fields: list[str], spw: int) -> dict | None:
    from casatools import table

    tb = table()
    tb.open(f"{vis}/FIELD")
    names = list(tb.getcol("NAME"))
    tb.close()
    ids = [i for i, name in enumerate(names) if name in fields]
    tb.open(f"{vis}/DATA_DESCRIPTION")
    ddids = [int(d) for d in np.nonzero(tb.getcol("SPECTRAL_WINDOW_ID") == spw)[0]]
    tb.close()
    tb.open(vis)
    try:
        sub = tb.query(
            f"ANTENNA1!=ANTENNA2 && FIELD_ID IN {ids} && DATA_DESC_ID IN {ddids} && !FLAG_ROW"
        )
        try:
            if sub.nrows() == 0:
                return None
            reduction = RowReduction()
            per_row = int(np.prod(sub.getcell("FLAG", 0).shape))
            for start, nrow in row_chunks(sub.nrows(), per_row, CHUNK_VISIBILITIES):
                reduction.add(
                    np.transpose(sub.getcol("DATA", startrow=start, nrow=nrow), (2, 1, 0)),
                    np.transpose(sub.getcol("FLAG", startrow=start, nrow=nrow), (2, 1, 0)),
                )
            return {
                "rows": reduction,
                "ant1": sub.getcol("ANTENNA1"),
                "ant2": sub.getcol("ANTENNA2"),
                "times": sub.getcol("TIME"),
                "scans": sub.getcol("SCAN_NUMBER"),
                "tint": float(np.median(sub.getcol("INTERVAL"))),
            }
        finally:
            sub.close()
    finally:
        tb.close()


def spwphaseup(
    *,
    vis: str,
    eb_choices: str,
    decision: str,
    settings: dict,
    solint: str,
    log: str,
    commands: str,
) -> None:
    """Estimate the phase calibrator's phase SNR per science spw and write the decision (its
    summary also as notes among the EB's CASA commands)."""
    with CasaJob(log=log, commands=commands, title=f"spw phase-up decision for {vis}") as job:
        result = _decision(vis, choices.load(eb_choices), settings, solint)
        for s in result["spws"]:
            job.note(f"spw {s['spw']}: {result['reasons'][str(s['spw'])]}")
        job.note(f"phase solutions applied with spwmap {result['spwmap'] or 'identity'}")
    jsonio.write(decision, result)


def _decision(vis: str, eb: choices.EBChoices, settings: dict, solint: str) -> dict:
    basebands = {s["id"]: s["baseband"] for s in eb.metadata["spws"]}
    phase = eb.roles["phase"]
    snrs = []
    for spw in eb.science_spws:
        rows = _phase_calibrator_rows(vis, phase, spw)
        if rows is None:
            snrs.append(SpwSnr(spw, basebands[spw], 0.0, 0.0, 0.0, 0, 0, 0))
            continue
        snrs.append(
            reduced_spw_snr(
                spw,
                basebands[spw],
                rows["rows"],
                rows["ant1"],
                rows["ant2"],
                rows["times"],
                rows["scans"],
                solint,
                rows["tint"],
            )
        )
    result = decide(snrs, settings["mode"], float(settings["phasesnr"]))
    result["phase_calibrators"] = phase
    result["solint"] = solint
    return result
