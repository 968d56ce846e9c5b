"""Keys of the SPANS and ASSESSMENTS view rollup cells (docs/trace-analytics.md, "Rollups of
the SPANS and ASSESSMENTS views").

A cell pre-aggregates, for one experiment, one trace hour and one write shard, the spans of
one (span start hour, type, status, name) or the valid assessments of one (name, type,
value). Base-table items under

    PK  EXP#<experiment>#VROLLUP#<period>#<shard>
    SK  S#<trace hour>#<start hour>#<type>#<status>#<name>   spans
        S#<trace hour>#?                                     traces whose spans are not summed
        A#<trace hour>#<type>#<name>#<value>                 valid assessments
        A#<trace hour>#?                                     traces whose assessments are not summed

- **period** and **shard** are the trace rollup cells' (the stats listing's 30-day period,
  ``crc32(trace_id) % 4``): one partition holds at most 30 days of one shard, and a trace's
  writes go to the same shard as its TRACES cells, so heavy traffic has no hot key.
- Cells are keyed by the **trace** hour because the SQL store bounds span counts/latency and
  assessments by their trace's timestamp; spans are bucketed by their own start (the start
  hour is in the key). A range is a sort-key range on the trace hour.
- User strings (names, types, values) longer than 256 bytes or holding the separator are
  written as ``~<sha-256>`` and the cell carries the text in an attribute.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.schema.analytics_keys import stats_period
from mlflow_dynamodbstore.schema.cell_labels import label as _label
from mlflow_dynamodbstore.schema.cell_labels import unlabel as _unlabel
from mlflow_dynamodbstore.schema.encoding import decode_int, encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_SHARDS, rollup_hour

SPANS = "S"
ASSESSMENTS = "A"
UNKNOWN = "?"
VIEW_ROLLUP_SHARDS = ROLLUP_SHARDS


def view_rollup_pk(experiment_id: str, period: int, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}VROLLUP{SEP}{period}{SEP}{shard}"


def view_sk_bound(kind: str, hour_ms: int) -> str:
    """The sort key prefix of every cell of one kind and trace hour."""
    return f"{kind}{SEP}{encode_int(int(hour_ms))}"


# Attributes that carry digested labels' text, by position in the key.
_CARRIED = ("l0", "l1", "l2", "l3")


def view_cell_key(
    kind: str,
    experiment_id: str,
    trace_hour_ms: int,
    shard: int,
    labels: tuple[Any, ...] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(key, attributes carrying digested label text) of a cell; ``labels`` None is the
    hour's "not summed" cell. Span labels: (start hour, type, status, name); assessment
    labels: (type, name, value)."""
    pk = view_rollup_pk(experiment_id, stats_period(trace_hour_ms), shard)
    prefix = view_sk_bound(kind, rollup_hour(trace_hour_ms))
    if labels is None:
        return {"PK": pk, "SK": f"{prefix}{SEP}{UNKNOWN}"}, {}
    parts: list[str] = []
    carried: dict[str, str] = {}
    texts = labels
    if kind == SPANS:
        parts.append(encode_int(int(labels[0])))
        texts = labels[1:]
    for i, text in enumerate(texts):
        label, full = _label(text)
        parts.append(label)
        if full is not None:
            carried[_CARRIED[i]] = full
    return {"PK": pk, "SK": SEP.join([prefix, *parts])}, carried


def parse_view_cell(cell: dict[str, Any]) -> tuple[str, int, tuple[Any, ...] | None]:
    """(kind, trace hour, labels or None for a "not summed" cell) of a cell."""
    kind, hour, rest = cell["SK"].split(SEP, 2)
    if rest == UNKNOWN:
        return kind, decode_int(hour), None
    parts = rest.split(SEP)
    labels: list[Any] = []
    if kind == SPANS:
        labels.append(decode_int(parts.pop(0)))
    for i, label in enumerate(parts):
        labels.append(_unlabel(label, cell.get(_CARRIED[i])))
    return kind, decode_int(hour), tuple(labels)
