"""The renormalisation caltable {eb}.ms.split.renorm.tbl from the factors of renorm_factors.

As the ALMA pipeline makes it (pipeline.extern.almarenorm): a Tsys-type table (B TSYS, real
FPARAM = R per correlation and channel) with one row per target scan, field (each mosaic
pointing), science spw and antenna at the mid time of that field's data in the scan, applied like
a Tsys table: applycal multiplies the cross-correlation of antennas i, j by sqrt(R_i R_j) and,
with calwt on, divides its weight by the channel means of R_i and R_j (the MS has one weight per
spw and correlation; docs/design.md has the figures measured). Field/spw pairs whose max_rn does not exceed the threshold get
unit factors: applying the table leaves them untouched.
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
        job.note(f"B TSYS table {caltable}: FPARAM = R from {spectra}")
        cb = calibrater()
        cb.open(vis, compress=False, addcorr=False, addmodel=False)
        cb.createcaltable(caltable, "Real", "B TSYS", False)
        cb.close()
        rows = []
        for field, per_spw in report["fields"].items():
            for spw, stats in per_spw.items():
                for scan, entry in stats["scans"].items():
                    for fid in entry["fields"]:
                        key = f"{field}/{spw}/{scan}/{fid}"
                        r = scaling[key]  # [ant, pol, chan]
                        if not stats["exceeds_threshold"]:
                            r = np.ones_like(r)
                        t0, t1 = scaling[f"{key}/time"]
                        for ant in range(r.shape[0]):
                            rows.append(
                                (
                                    0.5 * (t0 + t1),
                                    t1 - t0,
                                    int(fid),
                                    int(spw),
                                    ant,
                                    int(scan),
                                    r[ant],
                                )
                            )
        # rows by field, spw, time and antenna (CASA interpolates each antenna's rows in time
        # order; the JSON's scan keys are strings and need not come in time order)
        rows.sort(key=lambda row: (row[2], row[3], row[0], row[4]))
        tb = table()
        tb.open(caltable, nomodify=False)
        tb.addrows(len(rows))
        for i, (time, interval, fid, spw, ant, scan, factor) in enumerate(rows):
            tb.putcell("TIME", i, time)
            tb.putcell("INTERVAL", i, interval)
            tb.putcell("FIELD_ID", i, fid)
            tb.putcell("SPECTRAL_WINDOW_ID", i, spw)
            tb.putcell("ANTENNA1", i, ant)
            tb.putcell("ANTENNA2", i, -1)
            tb.putcell("SCAN_NUMBER", i, scan)
            tb.putcell("OBSERVATION_ID", i, 0)
            tb.putcell("FPARAM", i, factor.astype(float))
            tb.putcell("PARAMERR", i, np.zeros(factor.shape))
            tb.putcell("FLAG", i, np.zeros(factor.shape, bool))
            tb.putcell("SNR", i, np.ones(factor.shape))
        tb.close()
