"""A mergeable log-bucket sketch of integer values (DDSketch-style) kept in the rollup cells,
so PERCENTILE, MIN and MAX of latency and token counts are answered from cells
(docs/trace-analytics.md, "Percentiles, MIN and MAX from cells").

Buckets are ranges of integers ``[low, high]``, each with one integer *representative*
``r`` that is within ``RELATIVE_ACCURACY`` (1 %) of every integer of its bucket:
``(r - low) / low <= 1/100`` and ``(high - r) / high <= 1/100``. The buckets are built once,
greedily and in integer arithmetic only (no ``math.log``: every server must put a value in
the same bucket, or a deletion would subtract from another bucket than the write added to):

- 0 and every integer below 99 has a bucket of its own (exact);
- above, each bucket is as wide as the bound allows (it grows by ~2 % per bucket), so
  ~2,100 buckets cover 0 .. 2**63; negative values mirror the positive ones.

A cell holds, per sketched column, one attribute per non-empty bucket (its count), moved by
ADD exactly as the cell's counts are (``q<column><bucket in base 36>``, 4-6 bytes + the
count). A value outside the table (|v| >= 2**63) gets no bucket: the cell then holds fewer
bucket counts than values, and the query planner answers from the exact path.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator

RELATIVE_ACCURACY = 0.01
_DENOMINATOR = 100  # the bound 1/100 in integer arithmetic
_MAX_VALUE = 2**63  # exclusive: SQL's BIGINT
ATTR_PREFIX = "q"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _table() -> tuple[list[int], list[int]]:
    """(lows, representatives) of the positive buckets, bucket k >= 1 at index k - 1."""
    lows, reps = [], []
    low = 1
    while low < _MAX_VALUE:
        rep = low + low // _DENOMINATOR  # (rep - low) / low <= 1/100
        high = (_DENOMINATOR * rep) // (_DENOMINATOR - 1)  # (high - rep) / high <= 1/100
        lows.append(low)
        reps.append(rep)
        low = high + 1
    return lows, reps


_LOWS, _REPS = _table()


def bucket(value: int) -> int | None:
    """The bucket of an integer: 0 for 0, k >= 1 for positive values, -k for negative ones;
    None outside the table."""
    value = int(value)
    if value == 0:
        return 0
    if abs(value) >= _MAX_VALUE:
        return None
    k = bisect.bisect_right(_LOWS, abs(value))
    return k if value > 0 else -k


def representative(key: int) -> int:
    """The integer a bucket stands for (within 1 % of each of its integers)."""
    if key == 0:
        return 0
    rep = _REPS[abs(key) - 1]
    return rep if key > 0 else -rep


def bucket_range(key: int) -> tuple[int, int]:
    """The integers ``[low, high]`` of a positive bucket (for tests and docs)."""
    low = _LOWS[key - 1]
    high = _LOWS[key] - 1 if key < len(_LOWS) else _MAX_VALUE - 1
    return low, high


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def attr(column_index: int, key: int) -> str:
    """The cell attribute counting the values of one column in one bucket."""
    sign = "-" if key < 0 else ""
    return f"{ATTR_PREFIX}{column_index}{sign}{_base36(abs(key))}"


def parse_attr(name: str) -> tuple[int, int] | None:
    """(column index, bucket) of a sketch attribute; None for any other attribute."""
    if len(name) < 3 or name[0] != ATTR_PREFIX or not name[1].isdigit():
        return None
    body = name[2:]
    sign = -1 if body.startswith("-") else 1
    try:
        return int(name[1]), sign * int(body.lstrip("-"), 36)
    except ValueError:
        return None


def counters(values: Iterable[int | None], sign: int) -> dict[str, int]:
    """The ADD amounts of one contribution: +-1 in the bucket of each present value."""
    out: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        key = bucket(value)
        if key is not None:
            out[attr(index, key)] = sign
    return out


class Sketch:
    """A merged multiset of representatives (cells) and exact values (records read at a
    range's edges), with SQLite's ``percentile`` over it."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()

    def add_bucket(self, key: int, count: int) -> None:
        if count:
            self.counts[representative(key)] += count

    def add_value(self, value: int) -> None:
        self.counts[int(value)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _ordered(self) -> Iterator[tuple[int, int]]:
        return ((v, c) for v, c in sorted(self.counts.items()) if c > 0)

    def _at_rank(self, rank: int) -> int:
        seen = 0
        for value, count in self._ordered():
            seen += count
            if rank < seen:
                return value
        raise IndexError(rank)

    def minimum(self) -> int:
        return next(self._ordered())[0]

    def maximum(self) -> int:
        return max(v for v, c in self.counts.items() if c > 0)

    def percentile(self, pct: float) -> float:
        """Linear interpolation between the two closest ranks, as MLflow's SQLite
        ``percentile`` (search/trace_metrics/aggregate.py ``percentile``)."""
        n = self.total
        index = (float(pct) / 100.0) * (n - 1)
        lower = int(index)
        upper = min(lower + 1, n - 1)
        fraction = index - lower
        low_value, high_value = float(self._at_rank(lower)), float(self._at_rank(upper))
        return low_value + fraction * (high_value - low_value)
