"""The renormalisation caltable {eb}.ms.split.renorm.tbl from the factors of renorm_factors.

A bandpass-type (B Jones) table with one row per target scan, science spw and antenna at the
scan's mid time: CPARAM = 1/sqrt(R) per correlation and channel, so that applycal multiplies the
cross-correlation of antennas i, j by sqrt(R_i R_j). Field/spw pairs whose maximum factor does not
exceed the threshold (and every pair in mode "auto" only when some pair exceeds it) get unit
factors: applying the table leaves them untouched.
"""

import numpy as np

from almacal import jsonio
from almacal.casa_job import CasaJob


def renorm_table(
    *, vis: str, factors: str, spectra: str, caltable: str, log: str, commands: str
) -> None:
    from casatools import calibrater, table

    report = jsonio.load(factors)
    if not report["apply"]:
        raise ValueError(f"{factors}: the decision is not to renormalise ({report['decision']})")
    scaling = np.load(spectra)
    with CasaJob(log=log, commands=commands, title=f"renormalisation table of {vis}") as job:
        job.note(f"B Jones table {caltable}: CPARAM = 1/sqrt(R) from {spectra}")
        tb = table()
        tb.open(f"{vis}/FIELD")
        field_id = {name: i for i, name in enumerate(tb.getcol("NAME"))}
        tb.close()
        cb = calibrater()
        cb.open(vis, compress=False, addcorr=False, addmodel=False)
        cb.createcaltable(caltable, "Complex", "B Jones", False)
        cb.close()
        rows = []
        for field, per_spw in report["fields"].items():
            for spw, stats in per_spw.items():
                for scan in stats["scans"]:
                    r = scaling[f"{field}/{spw}/{scan}"]  # [ant, pol, chan]
                    if not stats["exceeds_threshold"]:
                        r = np.ones_like(r)
                    t0, t1 = scaling[f"{field}/{spw}/{scan}/time"]
                    for ant in range(r.shape[0]):
                        rows.append(
                            (
                                0.5 * (t0 + t1),
                                t1 - t0,
                                field_id[field],
                                int(spw),
                                ant,
                                int(scan),
                                1.0 / np.sqrt(r[ant]),
                            )
                        )
        # rows by field, spw, time and antenna (CASA interpolates each antenna's rows in time
        # order; the JSON's scan keys are strings and need not come in time order)
        rows.sort(key=lambda row: (row[2], row[3], row[0], row[4]))
        tb.open(caltable, nomodify=False)
        tb.addrows(len(rows))
        for i, (time, interval, fid, spw, ant, scan, cparam) in enumerate(rows):
            tb.putcell("TIME", i, time)
            tb.putcell("INTERVAL", i, interval)
            tb.putcell("FIELD_ID", i, fid)
            tb.putcell("SPECTRAL_WINDOW_ID", i, spw)
            tb.putcell("ANTENNA1", i, ant)
            tb.putcell("ANTENNA2", i, -1)
            tb.putcell("SCAN_NUMBER", i, scan)
            tb.putcell("OBSERVATION_ID", i, 0)
            tb.putcell("CPARAM", i, cparam.astype(complex))
            tb.putcell("PARAMERR", i, np.zeros(cparam.shape))
            tb.putcell("FLAG", i, np.zeros(cparam.shape, bool))
            tb.putcell("SNR", i, np.ones(cparam.shape))
        tb.close()
