"""A line of the flux calibrator, given in config, is flagged on that field only, before setjy."""

import json

import pytest
import yaml
from truth import DEMO_EBS, MOUS
from workdir import make_workdir, run_workflow

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[2]


def test_flux_calibrator_line_channels_are_flagged_on_that_field_only(tmp_path, demo_raw):
    work = make_workdir(tmp_path / "line")
    config_file = work / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["mous"][MOUS]["ebs"][EB]["overrides"] = {"flux_line_channels": "3:60~70"}
    config_file.write_text(yaml.safe_dump(config))
    run_workflow(work, f"results/{MOUS}/{EB}/{EB}.ms.split.setjy.json")
    split = work / f"results/{MOUS}/{EB}/{EB}.ms.split"
    metadata = json.loads((work / f"results/{MOUS}/{EB}/{EB}.ms.metadata.json").read_text())
    ids = {f["name"]: f["id"] for f in metadata["fields"]}
    from casatools import table

    tb = table()
    tb.open(str(split))
    flagged = {}
    for name in ("J1924-2914", "J1733-1304"):
        sub = tb.query(f"FIELD_ID=={ids[name]} && DATA_DESC_ID==3 && ANTENNA1!=ANTENNA2")
        flags = sub.getcol("FLAG")  # [corr, chan, row]
        sub.close()
        flagged[name] = flags[:, 60:71, :].mean(), flags[:, 20:50, :].mean()
    tb.close()
    assert flagged["J1924-2914"][0] == 1.0  # the flux calibrator's line channels
    assert flagged["J1924-2914"][1] < 0.2 and flagged["J1733-1304"][0] < 0.2  # nothing else
    summary = json.loads((work / f"results/{MOUS}/{EB}/{EB}.ms.split.flags_user.json").read_text())
    assert "spw='3:60~70'" in summary["flux_calibrator_line"]
