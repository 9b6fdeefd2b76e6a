"""Channel selections of the science spws: edge channels (flagged before the solves and left out
of the renormalisation fit) and the central channels of the pre-bandpass phase solve."""


def edge_channels(nchan: int, fraction: float) -> int:
    """Number of channels flagged at each end of an ``nchan``-channel spw."""
    return int(round(fraction * nchan))


def edge_selection(metadata: dict, spws: list[int], fraction: float) -> str:
    """flagdata spw selection of the edge channels of each spw ('' when none)."""
    parts = []
    for spw in metadata["spws"]:
        if spw["id"] not in spws:
            continue
        n = spw["nchan"]
        edge = edge_channels(n, fraction)
        if edge > 0:
            parts.append(f"{spw['id']}:0~{edge - 1};{n - edge}~{n - 1}")
    return ",".join(parts)


def central_channels(metadata: dict, spws: list[int], fraction: float) -> str:
    """spw selection of the central ``fraction`` of each spw's channels."""
    parts = []
    for spw in metadata["spws"]:
        if spw["id"] in spws:
            n = spw["nchan"]
            lo = int(n * (0.5 - fraction / 2))
            hi = max(lo, int(n * (0.5 + fraction / 2)) - 1)
            parts.append(f"{spw['id']}:{lo}~{hi}")
    return ",".join(parts)


def inner_channels(metadata: dict, spws: list[int], fraction: float) -> str:
    """spw selection of each spw less its edge channels (those ``edge_selection`` flags)."""
    parts = []
    for spw in metadata["spws"]:
        if spw["id"] in spws:
            n = spw["nchan"]
            edge = edge_channels(n, fraction)
            parts.append(f"{spw['id']}:{edge}~{n - 1 - edge}" if edge > 0 else str(spw["id"]))
    return ",".join(parts)
