"""Row chunks (almacal.chunks): every row once, in order, each chunk within its visibility
budget unless one row alone exceeds it."""

import pytest

from almacal.chunks import row_chunks

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    "nrow, per_row, budget", [(0, 8, 64), (1, 8, 64), (100, 8, 64), (101, 7, 64), (5, 100, 64)]
)
def test_chunks_cover_every_row_once_within_the_budget(nrow, per_row, budget):
    chunks = row_chunks(nrow, per_row, budget)
    rows = [row for start, count in chunks for row in range(start, start + count)]
    assert rows == list(range(nrow))
    assert all(count >= 1 for _, count in chunks)
    assert all(count * per_row <= max(budget, per_row) for _, count in chunks)
