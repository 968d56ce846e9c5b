"""Where the trace records of a metrics query come from.

- **Stats items** (``TRACE_STATS_BY_TIME``, GSI4): one compact item per trace listed by
  experiment, 30-day period and shard, sorted by timestamp. A query reads the periods its
  time range covers, every shard, with a sort-key range: it touches only the traces of its
  time range, ~200 bytes each, never a META item or a span. Used for the TRACES view unless
  a filter needs what only META holds.
- **META items** (``TRACES_BY_TIMESTAMP``, GSI3) of the time range: for filters on arbitrary
  tags or metadata, and for the ASSESSMENTS and SPANS views.

A range open on either side is first clipped to the experiment's oldest / newest trace
(one GSI3 Query of one item each), so "all time" reads no empty period keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces.codec import decode_analytics
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema import analytics_keys

Item = dict[str, Any]
Record = dict[str, Any]
# Above this many periods a bounded range is clipped to the experiment's traces first.
_CLIP_ABOVE_PERIODS = 2


def trace_record(item: Item) -> Record:
    """The SQL trace_info columns of a stats or META item (plus tags/metadata/runs/assessments
    when it is META)."""
    execution = item.get("execution_time_ms")
    return {
        "trace_id": item["trace_id"],
        "timestamp_ms": int(item["timestamp_ms"]),
        "execution_time_ms": None if execution is None else int(execution),
        "status": item.get("status"),
        "trace_name": item.get("trace_name"),
        **decode_analytics(item.get("analytics")),
        "tags": item.get("tags"),
        "metadata": item.get("metadata"),
        "linked_runs": item.get("linked_runs"),
        "assessments": item.get("assessments"),
    }


class TraceRecords:
    def __init__(self, traces: TraceRepository):
        self.traces = traces

    def _edge(self, experiment_id: str, *, oldest: bool) -> int | None:
        for item in self.traces.list_experiment(experiment_id, page_size=1, oldest_first=oldest):
            return int(item["timestamp_ms"])
        return None

    def clipped(
        self, experiment_id: str, start_ms: int | None, end_ms: int | None
    ) -> tuple[int, int] | None:
        """The range narrowed to the experiment's traces; None when it holds none."""
        open_or_wide = (
            start_ms is None
            or end_ms is None
            or analytics_keys.stats_period(end_ms) - analytics_keys.stats_period(start_ms)
            >= _CLIP_ABOVE_PERIODS
        )
        if not open_or_wide:
            return (start_ms, end_ms)  # type: ignore[return-value]
        oldest = self._edge(experiment_id, oldest=True)
        if oldest is None:
            return None
        newest = self._edge(experiment_id, oldest=False)
        low = oldest if start_ms is None else max(start_ms, oldest)
        high = newest if end_ms is None or newest is None else min(end_ms, newest)
        return (low, high) if low <= high else None

    def from_stats(
        self, experiment_ids: list[str], start_ms: int | None, end_ms: int | None
    ) -> Iterator[Record]:
        for item in self.stats_items(experiment_ids, start_ms, end_ms):
            yield trace_record(item)

    def stats_items(
        self, experiment_ids: list[str], start_ms: int | None, end_ms: int | None
    ) -> Iterator[Item]:
        """The raw stats items of the experiments with start <= timestamp <= end."""
        reads: list[tuple[str, int, int, int, int]] = []
        for experiment_id in experiment_ids:
            clipped = self.clipped(experiment_id, start_ms, end_ms)
            if clipped is None:
                continue
            low, high = clipped
            for period in range(
                analytics_keys.stats_period(low), analytics_keys.stats_period(high) + 1
            ):
                for shard in range(analytics_keys.STATS_SHARDS):
                    reads.append((experiment_id, period, shard, low, high))

        def read(args: tuple[str, int, int, int, int]) -> list[Item]:
            return list(self.traces.stats.list_range(*args))

        # The (period, shard) keys are independent: read them side by side (the same
        # requests, a fraction of the latency).
        for items in map_side_by_side(read, reads, batch_parallelism()):
            yield from items

    def from_meta(
        self, experiment_ids: list[str], start_ms: int | None, end_ms: int | None
    ) -> Iterator[Record]:
        for experiment_id in experiment_ids:
            for item in self.traces.list_experiment(experiment_id, newest=end_ms, oldest=start_ms):
                yield trace_record(item)
