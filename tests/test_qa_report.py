"""The QA report of the demo MOUS (results/<mous>/qa/index.html).

The workflow makes the report through the snakemake CLI (the session's demo run, in its scratch
working directory); the tests open it in headless Chromium
and check that every image loads and that every EB has its section, check the plots and numbers
behind it, and check with a dry run that a flag edit in one EB remakes only that EB's QA and the
MOUS report. Chromium is required (Debian: ``apt-get install -y chromium``): without it the
tests fail, they do not skip.
"""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import MOUS, PLOT_KINDS, ROOT, load_truth
from workdir import planned, planned_after_comment

from almacal.qa.scores import CHECKS, score

pytestmark = pytest.mark.workflow


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Appended to a copy of the page: after load, writes the state of every <img> into the DOM.
IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = (i) => i.complete && i.naturalWidth > 0;
  const out = document.createElement("pre");
  out.id = "qa-image-check";
  out.textContent = JSON.stringify({
    total: images.length,
    loaded: images.filter(ok).length,
    broken: images.filter((i) => !ok(i)).map((i) => i.getAttribute("src")),
    sections: Array.from(document.querySelectorAll("section.eb")).map((s) => s.id),
  });
  document.body.appendChild(out);
});
</script>
"""


def demo_ebs() -> list[str]:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return list(config["mous"][MOUS]["ebs"])


class PageParser(HTMLParser):
    """<img> sources, link targets and the ids of EB sections (with the images inside each)."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "eb" in attrs.get("class", "").split():
            self._section = attrs.get("id")
            self.sections[self._section] = []
        elif tag == "img":
            self.images.append(attrs["src"])
            if self._section:
                self.sections[self._section].append(attrs["src"])
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None


@pytest.fixture(scope="session")
def report_dir(demo_run) -> Path:
    """results/<mous>/qa of the demo run (its workdir, not the repository's results/)."""
    return demo_run / "results" / MOUS / "qa"


@pytest.fixture(scope="session")
def report(report_dir):
    """The QA report of the demo MOUS, made by the demo run (``all`` includes it)."""
    page = report_dir / "index.html"
    assert page.is_file(), f"{page} not made"
    parser = PageParser()
    parser.feed(page.read_text())
    return parser


@pytest.fixture(scope="session")
def mous_summary(report, report_dir):
    return json.loads((report_dir / f"{MOUS}.qa_summary.json").read_text())


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "headless Chromium is needed: apt-get install -y chromium"
    return path


def test_every_eb_has_its_section_with_all_plots(report):
    ebs = demo_ebs()
    assert len(ebs) >= 2
    assert sorted(report.sections) == sorted(f"eb-{eb}" for eb in ebs)
    for eb in ebs:
        images = report.sections[f"eb-{eb}"]
        assert images == [f"{eb}/{eb}.{kind}.png" for kind in PLOT_KINDS], images


def test_report_folder_is_self_contained(report, report_dir):
    """Every image and link is a relative path to a file inside results/<mous>/qa/."""
    targets = report.images + [link for link in report.links if not link.startswith("#")]
    assert targets
    for target in targets:
        assert not re.match(r"^[a-z]+:|^/", target), f"not relative: {target}"
        path = (report_dir / target).resolve()
        assert path.is_relative_to(report_dir.resolve()), f"outside the report folder: {target}"
        assert path.is_file(), f"missing: {target}"


def test_every_image_decodes_and_is_not_blank(report, report_dir):
    import matplotlib.image as mpimg

    # EB plots + MOUS flux and flagging + the images (continuum, 2 cubes, 3 phase calibrators)
    assert len(report.images) == len(PLOT_KINDS) * len(demo_ebs()) + 2 + 6
    for src in report.images:
        pixels = mpimg.imread(report_dir / src)
        assert pixels.shape[0] > 150 and pixels.shape[1] > 400, f"{src}: {pixels.shape}"
        assert pixels[..., :3].std() > 0.02, f"{src} is blank"


def test_images_load_in_headless_chromium(report, report_dir, tmp_path):
    """A copy of the folder opened from file://: every <img> has naturalWidth > 0."""
    binary = chromium()
    copy = tmp_path / "qa"
    shutil.copytree(report_dir, copy)  # the copy must work on its own
    page = copy / "index.html"
    page.write_text(page.read_text().replace("</body>", IMAGE_CHECK + "</body>"))
    run = subprocess.run(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'<pre id="qa-image-check">(.*?)</pre>', run.stdout, re.S)
    assert match, f"no image check in the DOM: {run.stderr[-2000:]}"
    state = json.loads(html.unescape(match.group(1)))
    assert state["broken"] == [], state["broken"]
    assert state["total"] == state["loaded"] == len(report.images)
    assert sorted(state["sections"]) == sorted(f"eb-{eb}" for eb in demo_ebs())


def test_screenshot_of_the_report_shows_the_page(report, report_dir, tmp_path):
    import matplotlib.image as mpimg

    shot = tmp_path / "report.png"
    run = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,3000",
            "--virtual-time-budget=15000",
            (report_dir / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), run.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1400)
    # the score colours (green, blue, yellow or red cells) are drawn: not an empty or error page
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.1
    assert coloured.mean() > 0.01, "screenshot shows almost no colour"


def test_scores_are_stated_in_0_1_worst_first(mous_summary):
    scores = mous_summary["scores"]
    ebs = demo_ebs()
    assert [s["score"] for s in scores] == sorted(s["score"] for s in scores)
    for s in scores:
        spec = CHECKS[s["check"]]
        assert 0.0 <= s["score"] <= 1.0
        assert (s["good"], s["bad"]) == (spec["good"], spec["bad"])
        assert s["score"] == pytest.approx(score(s["value"], s["good"], s["bad"]), abs=1e-3)
    # the demo EBs have no check source (OBSERVE_CHECK_SOURCE) and two science spws (a power law
    # fits any two fluxscale results): those checks are not scored
    applicable = set(CHECKS) - {
        "check_source_offset",
        "check_source_coherence",
        "image_check_source_offset",
        "image_check_source_peak_ratio",
        "fluxscale_spectrum",
    }
    for eb in ebs:
        checks = {s["check"] for s in scores if s["eb"] == eb}
        if not load_truth(eb)["has_wvr"]:  # the 7 m EB: no WVR data, no WVR score
            checks.add("wvr_improvement")
        assert checks == applicable, f"{eb}: checks {sorted(applicable ^ checks)} differ"
    # the MOUS's science images (continuum, a cube per spw) are scored under the MOUS's name
    mous_checks = [s["check"] for s in scores if s["eb"] == MOUS]
    assert sorted(mous_checks) == ["image_rms_ratio"] * 3, mous_checks


def test_imaging_section_shows_every_image_its_rms_and_the_verdict(report, report_dir):
    """The imaging section: a thumbnail per image of <mous>.sensitivity.json (copied into
    images/), each image's measured and theoretical rms, and the QA2 verdict."""
    sensitivity = json.loads((report_dir / f"{MOUS}.sensitivity.json").read_text())
    page = (report_dir / "index.html").read_text()
    section = page[page.index('<section class="imaging" id="imaging">') :]
    section = section[: section.index("</section>")]
    thumbs = re.findall(r'<img src="([^"]+)"', section)
    assert thumbs == [f"images/{image['png']}" for image in sensitivity["images"]]
    assert len(thumbs) == 6  # continuum, 2 cubes, a phase calibrator per EB
    for image in sensitivity["images"]:
        assert image["file"] in section
        for key in ("measured_rms_jy", "theoretical_rms_jy"):
            assert f"{image[key] * 1e3:.4g}" in section, (image["file"], key)
    verdict = sensitivity["qa2"]["verdict"]
    assert verdict in ("pass", "semipass", "fail")
    assert f'<b id="qa2-verdict">{verdict}</b>' in section
    assert "no check-source image" in section  # the demo EBs have none


def test_a_clean_eb_keeps_every_score_at_least_0_90(mous_summary):
    """The demo EBs carry no fault beyond what the calibration corrects (DA45's radiometer is
    found and flagged in wvrgcal): no check, the per-antenna ones included, may cry wolf on them. The one
    deliberate exception: EB3 has no flux-file rows, so its flux calibrator's model comes from
    the ASDM Source table, which the pipeline (and flux_calibrator_origin) scores red."""
    low = [s for s in mous_summary["scores"] if s["score"] < 0.9]
    assert [(s["check"], s["eb"]) for s in low] == [
        ("flux_calibrator_origin", "uid___A002_Xdemo_X3")
    ], low
    assert low[0]["subject"] == "ASDM Source table: J1924-2914 spw 1, J1924-2914 spw 3"


def test_eb_numbers_match_the_products(report, report_dir, mous_summary, demo_run):
    """Known answers: solution counts, phase rms and flux consistency from the products."""
    fluxes = {}
    for eb in demo_ebs():
        summary = json.loads((report_dir / eb / f"{eb}.qa_summary.json").read_text())
        stages = [s["stage"] for s in summary["flagging"]["stages"]]
        assert stages == ["apriori", "split", "user", "calibrated"]
        solutions = summary["solutions"]
        assert set(solutions) == {
            "tsys",
            "ap_pre_bandpass",
            "bandpass",
            "phase_offsets",
            "phase_int",
            "phase_inf",
            "ampli_inf",
            "flux_inf",
        }
        n_ant = len(summary["antennas"])
        for name, table in solutions.items():
            for spw, counts in table["per_spw"].items():
                assert counts["expected"] == counts["attempted"], f"{eb} {name} spw {spw}"
                assert counts["expected"] % n_ant == 0
                assert 0.95 <= counts["succeeded"] / counts["expected"] <= 1
        # the bandpass combines scans: one solution per antenna and spw
        assert all(c["expected"] == n_ant for c in solutions["bandpass"]["per_spw"].values())
        # calibrated point sources: the README's known-answer tolerance of 5 deg
        for field, spws in summary["calibrated_calibrators"].items():
            for spw, values in spws.items():
                assert values["phase_rms_deg"] < 5.0, f"{eb} {field} spw {spw}"
        product = demo_run / "results" / MOUS / eb / f"{eb}.ms.split.fluxscale.json"
        for field, entry in json.loads(product.read_text())["fields"].items():
            if field not in summary["field_roles"]["phase"]:
                continue  # (EB2 also transfers the flux scale from Ceres to J1924-2914)
            for spw, values in entry["spws"].items():
                fluxes.setdefault((field, spw), {})[eb] = values["flux_jy"]
    table = mous_summary["phase_calibrator_flux"]
    for (field, spw), per_eb in fluxes.items():
        entry = table[field][spw]
        median = float(np.median(list(per_eb.values())))
        assert entry["median_jy"] == pytest.approx(median)
        for eb, flux in per_eb.items():
            assert entry["ebs"][eb]["deviation"] == pytest.approx(abs(flux / median - 1), abs=1e-6)


def test_flag_edit_in_one_eb_remakes_only_its_qa_and_the_report(report, demo_run):
    """A comment-only edit of one EB's split flag file in the demo workdir (restored afterwards,
    mtime included); the rerun plan (workflow/tools/plan_rerun.py) of a dry run."""
    ebs = demo_ebs()
    eb = ebs[0]
    jobs = planned_after_comment(demo_run, MOUS, eb, f"results/{MOUS}/qa")
    assert ("qa_report", None) in jobs, sorted(jobs)
    assert {e for _, e in jobs if e} == {eb}, f"jobs of other EBs planned: {sorted(jobs)}"
    qa_jobs = {rule for rule, _ in jobs if rule.startswith("qa_")}
    assert qa_jobs == {
        "qa_plot_solves",
        "qa_plot_calibrated",
        "qa_plot_corrections",
        "qa_check_source",
        "qa_eb_summary",
        "qa_report",
    }  # the Tsys plot does not depend on split-stage flags
    assert planned(demo_run, f"results/{MOUS}/qa") == set(), "the flag file was not restored"
