"""Building the cost record (META's span cost facts, ``span_costs.py``) of a trace whose spans
were stored before cost facts existed, from its stored spans (``traces backfill-stats``).

Its stats item is then summed in the span cost cells instead of "not summed"
(docs/trace-analytics.md, "Span cost per model from cells"). The facts are made by the same
code ``log_spans`` uses (``span_costs.merge_into`` over the stored span rows, joined with their
chunks by ``spans.rows_from_items``), and META is written as every META write is: a
conditional put on its version, whose stats write moves the cells in one transaction
(``TraceRepository.replace``). A concurrent ``log_spans`` either lands first (the put fails,
META and the spans are read again) or after (it merges its spans into the facts built here).

Which traces get one:

- spans in the table (``spansLocation`` absent or ``TRACKING_STORE``, X-Ray traces included:
  trace analytics see only the spans the table holds, and X-Ray spans cached later are
  merged by ``log_spans`` as for any trace);
- not archived, nor being archived: an archived trace's span heads keep their costs but not
  their content, so their model name / provider are gone from the table (the SQL store keeps
  them as columns). Reading them back means one artifact-store read per trace; the backfill
  does not, and such traces stay "not summed" (the exact path answers them);
- not overflowed (more than ``MAX_COST_FACTS_BYTES`` of facts stay unknown), and META has
  room for the facts under DynamoDB's 400 KB (else it stays "not summed", logged).
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow_dynamodbstore.gateway import ConditionFailed
from mlflow_dynamodbstore.gateway.errors import Contention
from mlflow_dynamodbstore.repositories.traces import archival, span_costs
from mlflow_dynamodbstore.repositories.traces.codec import STRIP_PENDING
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository, TraceTooLarge
from mlflow_dynamodbstore.repositories.traces.spans import rows_from_items

Item = dict[str, Any]

_logger = logging.getLogger(__name__)

_ATTEMPTS = 8


def needs_record(meta: Item) -> bool:
    """Whether META lacks a cost record the backfill can build from the table's spans."""
    return (
        span_costs.COSTS not in meta
        and not meta.get(span_costs.OVERFLOW)
        and archival.is_db_backed(meta)
        and not meta.get(STRIP_PENDING)
    )


def with_record(meta: Item, span_items: list[Item]) -> Item:
    """META with the cost facts of these stored span items (head and chunk items), built as
    ``log_spans`` builds those of a new trace's spans."""
    item = dict(meta)
    span_costs.merge_into(item, rows_from_items(span_items), created=True)
    return item


def build_cost_record(traces: TraceRepository, trace_id: str) -> Item | None:
    """Give the trace a cost record if it needs one: the META written (its stats item and
    cells moved in the same write), or None when there was nothing to do (no trace, a record
    is there, archived). One strongly consistent Query of the trace's partition (META and
    span items, per MB) and one conditional PutItem + TransactWriteItems; again on a race."""
    for _ in range(_ATTEMPTS):
        # META and the spans in one consistent read: spans are written before their META,
        # so every span of this META version is seen.
        meta, items = traces.read_partition(trace_id)
        if meta is None or not needs_record(meta):
            return None
        try:
            return traces.replace(meta, with_record(meta, items))
        except ConditionFailed:
            continue  # a concurrent write won: read META and the spans again
        except TraceTooLarge:
            # META near 400 KB: the trace stays "not summed" rather than stop the job.
            _logger.warning("Trace %s: no room on META for its cost record", trace_id)
            return None
    raise Contention(f"trace {trace_id}", _ATTEMPTS)
