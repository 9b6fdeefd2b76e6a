"""almacal.flag_counts counts what flagdata(mode='summary') counts, on MSs of two shapes: the
demo's raw-stage MS (ALMA: WVR and channel-averaged spws of other shapes, autocorrelations, XX/YY)
and a real EVLA MS (RR/RL/LR/LL, no autocorrelations), each with flags of two kinds added
(channels of one correlation, an antenna in two scans) and FLAG_ROW set on rows whose FLAG is
not (flagdata counts FLAG only: so must we)."""

import shutil

import numpy as np
import pytest
from truth import DEMO_EBS, product

from almacal.flag_counts import BY, flag_summary

pytestmark = pytest.mark.workflow


def _flag_assorted(vis: str, correlation: str) -> None:
    from casatasks import flagdata
    from casatools import table

    flagdata(vis=vis, mode="manual", spw="*:3~9", correlation=correlation, flagbackup=False)
    flagdata(vis=vis, mode="manual", antenna="1", scan="1,2", flagbackup=False)
    tb = table()
    tb.open(vis, nomodify=False)
    try:
        flag_row = tb.getcol("FLAG_ROW")
        flag_row[np.arange(len(flag_row)) % 7 == 3] = True
        tb.putcol("FLAG_ROW", flag_row)
    finally:
        tb.close()


def _flagdata_fractions(vis: str, cross_only: bool = False) -> dict:
    from casatasks import flagdata

    counts = flagdata(
        vis=vis, mode="summary", flagbackup=False, **({"antenna": "*&*"} if cross_only else {})
    )
    return {
        "flagged_fraction": round(counts["flagged"] / counts["total"], 6),
        "total": counts["total"],
        **{
            by: {k: round(v["flagged"] / v["total"], 6) for k, v in sorted(counts[by].items())}
            for by in BY
        },
    }


@pytest.mark.parametrize("shape", ["demo", "evla"])
def test_flag_summary_is_flagdata_summary(shape, request, tmp_path):
    if shape == "demo":
        source = product(DEMO_EBS[0], ".ms", root=request.getfixturevalue("demo_run"))
        correlation = "YY"
    else:
        source = request.getfixturevalue("evla_ms")
        correlation = "RL"
    vis = str(tmp_path / "flagged.ms")
    shutil.copytree(source, vis)
    _flag_assorted(vis, correlation)
    ours = flag_summary(vis)
    assert 0.05 < ours["flagged_fraction"] < 0.5
    assert ours == _flagdata_fractions(vis)
    if shape == "demo":  # autocorrelations left out: flagdata's antenna='*&*'
        cross = flag_summary(vis, cross_only=True)
        assert cross["total"] < ours["total"]
        assert cross == _flagdata_fractions(vis, cross_only=True)
