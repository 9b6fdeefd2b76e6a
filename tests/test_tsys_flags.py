"""Tsys channels listed in a Tsys flag file are flagged in that EB's Tsys table, and only that
EB's Tsys table (and what depends on it) is remade."""

import json

import pytest
from test_incremental import FLAGS, EditedFile
from truth import DEMO_EBS, MOUS
from workdir import make_workdir, planned, run_workflow, table_columns

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[2]
LINE = "antenna='CM02' spw='2:10~20' reason='line contamination'\n"


def test_tsys_flag_file_flags_those_channels_only(tmp_path, demo_raw):
    work = make_workdir(tmp_path / "tsys")
    tables = {eb: f"results/{MOUS}/{eb}/{eb}.ms.tsys" for eb in DEMO_EBS}
    run_workflow(work, *tables.values())
    with EditedFile(work / FLAGS / f"{EB}.tsys.flags.txt", LINE):
        assert planned(work, *tables.values()) == {("gencal_tsys", EB)}
        run_workflow(work, tables[EB])
        table = table_columns(work / tables[EB], ("FLAG", "ANTENNA1", "SPECTRAL_WINDOW_ID"))
    metadata = json.loads((work / f"results/{MOUS}/{EB}/{EB}.ms.metadata.json").read_text())
    cm02 = next(a["id"] for a in metadata["antennas"] if a["name"] == "CM02")
    flags = table["FLAG"]  # [pol, chan, row]
    mine = (table["ANTENNA1"] == cm02) & (table["SPECTRAL_WINDOW_ID"] == 2)
    assert mine.any()
    assert flags[:, 10:21, mine].all()
    assert not flags[:, :10, mine].any() and not flags[:, 21:, mine].any()
    assert not flags[:, :, ~mine].any()
