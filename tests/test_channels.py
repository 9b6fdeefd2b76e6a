"""Channel selections of the science spws (almacal.channels): the edge channels flagged before
the solves and the central channels of the pre-bandpass phase solve, on spws of different
channel counts."""

import pytest

from almacal import channels

pytestmark = pytest.mark.fast

# A 4-channel WVR window, a 128-channel TDM spw and FDM spws of 480, 960 and 3840 channels.
NCHAN = {0: 4, 1: 128, 2: 480, 3: 960, 4: 3840}
METADATA = {"spws": [{"id": i, "nchan": n} for i, n in NCHAN.items()]}


def selected(selection: str) -> dict[int, set[int]]:
    """'1:0~5;122~127,3:...' -> {spw: channels}."""
    out: dict[int, set[int]] = {}
    for part in filter(None, selection.split(",")):
        spw, _, ranges = part.partition(":")
        chans = out.setdefault(int(spw), set())
        for piece in ranges.split(";"):
            lo, _, hi = piece.partition("~")
            chans.update(range(int(lo), int(hi) + 1))
    return out


@pytest.mark.parametrize(
    "nchan, fraction, edge",
    [
        (128, 0.05, 6),
        (480, 0.05, 24),
        (960, 0.05, 48),
        (3840, 0.05, 192),
        (960, 0.0, 0),
        (128, 0.1, 13),
        (4, 0.05, 0),
    ],
)
def test_edge_channels_are_the_fraction_of_the_spw_rounded(nchan, fraction, edge):
    assert channels.edge_channels(nchan, fraction) == edge


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.1, 0.25])
def test_edge_selection_flags_the_same_number_of_channels_at_both_ends(fraction):
    spws = [1, 2, 3, 4]
    chosen = selected(channels.edge_selection(METADATA, spws, fraction))
    assert set(chosen) == set(spws)
    for spw, chans in chosen.items():
        n, edge = NCHAN[spw], channels.edge_channels(NCHAN[spw], fraction)
        assert chans == set(range(edge)) | set(range(n - edge, n)), f"spw {spw}"
        assert len(chans) == 2 * edge and max(chans) == n - 1


def test_edge_selection_leaves_out_other_spws_and_spws_without_edges():
    selection = channels.edge_selection(METADATA, [0, 3], 0.05)
    assert selection == "3:0~47;912~959"  # the 4-channel window has no edge channel at 5 %
    assert channels.edge_selection(METADATA, [0], 0.05) == ""
    assert channels.edge_selection(METADATA, [1, 3], 0.0) == ""


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5, 0.8])
def test_central_channels_are_the_middle_fraction_of_each_spw(fraction):
    spws = [1, 2, 3, 4]
    chosen = selected(channels.central_channels(METADATA, spws, fraction))
    assert set(chosen) == set(spws)
    for spw, chans in chosen.items():
        n = NCHAN[spw]
        lo, hi = min(chans), max(chans)
        assert chans == set(range(lo, hi + 1)), "one contiguous range"
        assert abs(len(chans) - fraction * n) <= 1, f"spw {spw}: {len(chans)} of {n}"
        assert abs((lo + hi) / 2 - (n - 1) / 2) <= 1, f"spw {spw} not centred: {lo}~{hi}"


def test_central_channels_keep_at_least_one_channel():
    assert selected(channels.central_channels(METADATA, [0], 0.1)) == {0: {1}}
    assert channels.central_channels(METADATA, [], 0.2) == ""


def test_central_and_edge_channels_do_not_overlap():
    central = selected(channels.central_channels(METADATA, [1, 2, 3, 4], 0.2))
    edges = selected(channels.edge_selection(METADATA, [1, 2, 3, 4], 0.05))
    assert all(not central[spw] & edges[spw] for spw in central)
