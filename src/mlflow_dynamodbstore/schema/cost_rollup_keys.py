"""Keys of the span cost rollup cells (docs/trace-analytics.md, "Span cost per model from
cells").

A cell pre-aggregates, for one experiment and one write shard, the costs of the spans that
start in one hour and share (model name, model provider), split by the *lag* (hours from
their trace's hour to the span's start hour, almost always 0). Base-table items under

    PK  EXP#<experiment>#CROLLUP#<period of the span start hour>#<shard>
    SK  <span start hour>#<lag>#<model name>#<model provider>   costs
        <trace hour>#?                                          traces whose costs are not summed

- Cells are keyed by the **span's** start hour because the SQL store bounds and buckets span
  costs by the span's own start time (not its trace's), so a range is a sort-key range.
- The lag tells a read which trace hours hold the spans of a partial (edge) hour, so the
  edge is computed from exactly those traces.
- **period** is the stats listing's 30 days, **shard** the trace's ``crc32(trace_id) % 4``
  (as every other rollup cell): one partition holds at most 30 days of one shard, and a
  trace's writes spread over 4 keys, so heavy traffic has no hot key.
- Model names/providers longer than 256 bytes or holding the separator are written as
  ``~<sha-256>`` and the cell carries the text in ``l0`` / ``l1``.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.schema.analytics_keys import stats_period
from mlflow_dynamodbstore.schema.cell_labels import label as _label
from mlflow_dynamodbstore.schema.cell_labels import unlabel as _unlabel
from mlflow_dynamodbstore.schema.encoding import decode_int, encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_SHARDS, rollup_hour

COST_ROLLUP_SHARDS = ROLLUP_SHARDS
UNKNOWN = "?"
_CARRIED = ("l0", "l1")


def cost_rollup_pk(experiment_id: str, period: int, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}CROLLUP{SEP}{period}{SEP}{shard}"


def cost_sk_bound(hour_ms: int) -> str:
    """The sort key prefix of every cell of one hour (for range conditions)."""
    return encode_int(int(rollup_hour(hour_ms)))


def cost_cell_key(
    experiment_id: str,
    hour_ms: int,
    shard: int,
    labels: tuple[int, str | None, str | None] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(key, attributes carrying digested label text) of a cell. ``labels`` is (lag in
    hours, model name, model provider), ``hour_ms`` the span start hour; ``labels`` None is
    the "not summed" cell of the trace hour ``hour_ms``."""
    pk = cost_rollup_pk(experiment_id, stats_period(hour_ms), shard)
    prefix = cost_sk_bound(hour_ms)
    if labels is None:
        return {"PK": pk, "SK": f"{prefix}{SEP}{UNKNOWN}"}, {}
    lag, model, provider = labels
    parts = [encode_int(int(lag))]
    carried: dict[str, str] = {}
    for i, text in enumerate((model, provider)):
        label, full = _label(text)
        parts.append(label)
        if full is not None:
            carried[_CARRIED[i]] = full
    return {"PK": pk, "SK": SEP.join([prefix, *parts])}, carried


def parse_cost_cell(cell: dict[str, Any]) -> tuple[int, tuple[int, str | None, str | None] | None]:
    """(hour, (lag, model, provider) or None for a "not summed" cell) of a cell."""
    hour, rest = cell["SK"].split(SEP, 1)
    if rest == UNKNOWN:
        return decode_int(hour), None
    lag, model, provider = rest.split(SEP)
    return decode_int(hour), (
        decode_int(lag),
        _unlabel(model, cell.get(_CARRIED[0])),
        _unlabel(provider, cell.get(_CARRIED[1])),
    )
