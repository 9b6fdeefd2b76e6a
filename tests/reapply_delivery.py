"""Re-apply a delivery package's calibration of one EB to a fresh import of its raw ASDM, as a
PI would without the workflow: run with a plain Python that has casatasks, in an empty folder.

    python reapply_delivery.py <package> <eb> <raw ASDM>

importasdm; the delivered flag versions of <eb>.ms (version raw_user); the applycal lines of
<eb>.ms.calapply.txt with the tables of <eb>.ms.caltables.tgz; mstransform of the fields and spws
those lines name to <eb>.ms.split; its delivered flag versions (split_user); the applycal lines
of <eb>.ms.split.calapply.txt with <eb>.ms.split.caltables.tgz; split to <eb>.ms.split.cal.
"""

import ast
import shutil
import sys
import tarfile
from pathlib import Path

from casatasks import applycal, flagmanager, importasdm, mstransform, split

package, eb, raw = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
calibration = package / "calibration"


def unpack(name: str) -> None:
    with tarfile.open(calibration / name) as tar:
        tar.extractall(".", filter="data")


def calapply(name: str) -> list[dict]:
    """The keyword arguments of each applycal line of a calapply file."""
    calls = []
    for line in (calibration / name).read_text().splitlines():
        if line.startswith("applycal("):
            call = ast.parse(line, mode="eval").body
            calls.append({k.arg: ast.literal_eval(k.value) for k in call.keywords})
    return calls


def restore(vis: str, version: str) -> None:
    shutil.rmtree(f"{vis}.flagversions", ignore_errors=True)  # the import's own
    unpack(f"{vis}.flagversions.tgz")
    flagmanager(vis=vis, mode="restore", versionname=version, merge="replace")


importasdm(asdm=raw, vis=f"{eb}.ms", process_flags=True, applyflags=False, savecmds=False)
restore(f"{eb}.ms", "raw_user")
unpack(f"{eb}.ms.caltables.tgz")
lines = calapply(f"{eb}.ms.calapply.txt")
for kwargs in lines:
    applycal(**kwargs, flagbackup=False)
fields = list(dict.fromkeys(kwargs["field"] for kwargs in lines))
spws = {kwargs["spw"] for kwargs in lines}
assert len(spws) == 1, spws
mstransform(
    vis=f"{eb}.ms",
    outputvis=f"{eb}.ms.split",
    field=",".join(fields),
    spw=spws.pop(),
    datacolumn="corrected",
    reindex=False,
    keepflags=True,
)
restore(f"{eb}.ms.split", "split_user")
unpack(f"{eb}.ms.split.caltables.tgz")
for kwargs in calapply(f"{eb}.ms.split.calapply.txt"):
    applycal(**kwargs, flagbackup=False)
split(vis=f"{eb}.ms.split", outputvis=f"{eb}.ms.split.cal", datacolumn="corrected", keepflags=True)
