"""The delivery package of the demo MOUS (rule delivery_package, results/<mous>/member.<mous>/):
its layout, and its calibration re-applied to a fresh import of an EB's raw ASDM (with the
delivered flags and the calapply files) gives the workflow's <eb>.ms.split.cal (within
workdir.SAME_MS_RTOL; measured on the demo: flags and weights identical, visibilities within
2.2e-7 of the largest: the re-application runs in one process, docs/design.md)."""

import json
import tarfile
from pathlib import Path

import pytest
from truth import DEMO_EBS, MOUS, ROOT, product
from workdir import assert_same_calibrated, plain_python

pytestmark = pytest.mark.workflow


def package_of(demo_run: Path) -> Path:
    return demo_run / "results" / MOUS / f"member.{MOUS}"


def expected_files(demo_run: Path) -> set[str]:
    """What the package holds: per EB its archives, apply lists, flag files, script and logs."""
    files = {
        "README",
        "calibration/flux.csv",
        f"qa/{MOUS}.calibration_summary.json",
        "qa/report/index.html",
        f"log/{MOUS}.casa_commands.log",
    }
    flags_dir = demo_run / "config" / "flags" / MOUS
    for eb in DEMO_EBS:
        for ms in (".ms", ".ms.split"):
            files |= {
                f"calibration/{eb}{ms}.{kind}"
                for kind in ("calapply.txt", "caltables.tgz", "flagversions.tgz")
            }
        for suffix in (
            ".ms.tsysflag.flags.txt",
            ".ms.split.lowgainflag.flags.txt",
            ".ms.split.correctedampflag.flags.txt",
        ):
            files.add(f"calibration/{eb}{suffix}")
        for stage in ("raw", "split", "tsys"):
            for name in (f"mous.{stage}.flags.txt", f"{eb}.{stage}.flags.txt"):
                if (flags_dir / name).exists():
                    files.add(f"calibration/{name}")
        files |= {
            f"script/{eb}.ms.scriptForCalibration.py",
            f"script/{eb}.antennapos.json",
            f"log/{eb}.log.tgz",
        }
        if json.loads(product(eb, ".ms.split.renorm.json", root=demo_run).read_text())["apply"]:
            files.add(f"script/{eb}.ms.split.renorm.tbl.tgz")
    return files


def test_the_package_has_almas_layout(demo_run):
    package = package_of(demo_run)
    marker = ".snakemake_timestamp"  # Snakemake's, on its directory() outputs
    files = {
        str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() and p.name != marker
    }
    report = {f for f in files if f.startswith("qa/report/")}
    found = files - report | {"qa/report/index.html"} & report
    # the QA report whole: every file of results/<mous>/qa
    made = demo_run / "results" / MOUS / "qa"
    assert report == {
        f"qa/report/{p.relative_to(made)}"
        for p in made.rglob("*")
        if p.is_file() and p.name != marker
    }
    top = {p.name for p in package.iterdir()} - {marker}
    assert top == {"README", "calibration", "script", "qa", "log", "product"}
    # product/: the FITS images of the MOUS's targets (deliver.smk, PACKAGE_PRODUCTS)
    images = demo_run / "results" / MOUS / "images"
    fits = {f"product/{p.name}" for p in images.glob("*/member.*.fits")}
    assert {f for f in files if f.startswith("product/")} == fits
    assert any(f.endswith(".cont.I.pbcor.fits") for f in fits)
    assert any(f.endswith(".cube.I.pb.fits") for f in fits)
    files -= fits
    found -= fits
    assert found == expected_files(demo_run), (
        sorted(found - expected_files(demo_run)),
        sorted(expected_files(demo_run) - found),
    )


def test_the_archives_hold_what_the_apply_lists_name(demo_run):
    calibration = package_of(demo_run) / "calibration"
    for eb in DEMO_EBS:
        for ms, version in ((".ms", "raw_user"), (".ms.split", "split_user")):
            text = (calibration / f"{eb}{ms}.calapply.txt").read_text()
            with tarfile.open(calibration / f"{eb}{ms}.caltables.tgz") as tar:
                tables = {n for n in tar.getnames() if "/" not in n}
            assert tables and all(f"'{t}'" in text for t in tables), (eb, ms, tables)
            assert text.count("applycal(") >= 3  # one per field group
            with tarfile.open(calibration / f"{eb}{ms}.flagversions.tgz") as tar:
                listing = tar.extractfile(f"{eb}{ms}.flagversions/FLAG_VERSION_LIST").read()
            assert version in listing.decode()


def test_the_readme_is_filled_from_the_run(demo_run):
    readme = (package_of(demo_run) / "README").read_text()
    summary = json.loads(
        (demo_run / "results" / MOUS / "qa" / f"{MOUS}.qa_summary.json").read_text()
    )
    assert f"MOUS: {MOUS}" in readme
    for eb in DEMO_EBS:
        assert eb in readme
        assert f"{summary['flagging'][eb]['calibrated']:.4f}" in readme
        fluxscale = json.loads(product(eb, ".ms.split.fluxscale.json", root=demo_run).read_text())
        for entry in fluxscale["fields"].values():
            for spw in entry["spws"].values():
                assert f"{spw['flux_jy']:.4f}" in readme
    assert f"of {len(summary['scores'])} scores" in readme


def test_the_delivered_calibration_reapplied_gives_the_workflows_split_cal(demo_run, tmp_path):
    eb = DEMO_EBS[0]
    raw = ROOT / "resources/demo_mous/raw" / eb
    plain_python(
        [str(ROOT / "tests" / "reapply_delivery.py"), str(package_of(demo_run)), eb, str(raw)],
        cwd=tmp_path,
    )
    found = assert_same_calibrated(
        tmp_path / f"{eb}.ms.split.cal", product(eb, ".ms.split.cal", root=demo_run)
    )
    print("differences:", found)
