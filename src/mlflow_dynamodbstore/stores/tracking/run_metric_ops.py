"""Metric logging and history reads of the tracking store facade (part of RunOps)."""

from __future__ import annotations

from collections.abc import Iterable

from mlflow.entities import Metric
from mlflow.entities.metric import MetricWithRunId
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import _validate_metric
from mlflow_dynamodbstore.lifecycle.policies import retention_of
from mlflow_dynamodbstore.lifecycle.ttl import metric_history_ttl
from mlflow_dynamodbstore.repositories.runs.changes import MetricPoint
from mlflow_dynamodbstore.repositories.runs.items import metric_sort_key
from mlflow_dynamodbstore.repositories.runs.metric_history import (
    BadPageToken,
    MetricHistoryRepository,
    Point,
    ntile_sample,
    pack_point,
)
from mlflow_dynamodbstore.repositories.runs.repository import RunMissing, RunRepository
from mlflow_dynamodbstore.repositories.runs.stepping import BUFFER_POINTS

_INT64 = (-(2**63), 2**63 - 1)
# Up to this many history items (a point, or a block of one key's points) go into the
# META transaction instead of a BatchWriteItem.
INLINE_ITEMS = 4


def to_points(metrics: Iterable[Metric]) -> list[Point]:
    """Validated metrics as history points (ints for timestamp/step; 64-bit range)."""
    points = []
    for metric in metrics:
        timestamp, step = int(metric.timestamp), int(metric.step)
        for name, number in (("timestamp", timestamp), ("step", step)):
            if not _INT64[0] <= number <= _INT64[1]:
                raise MlflowException(
                    f"Invalid value {number} for metric '{metric.key}' {name}: "
                    "it must be a 64-bit integer.",
                    INVALID_PARAMETER_VALUE,
                )
        points.append(Point(metric.key, float(metric.value), timestamp, step))
    return points


def latest_per_key(points: list[Point]) -> dict[str, MetricPoint]:
    """The best point per key in MLflow's order; on ties the earlier point stays (the SQL
    store only replaces on strictly greater)."""
    best: dict[str, MetricPoint] = {}
    for p in points:
        current = best.get(p.key)
        if current is None or metric_sort_key(p.value, p.timestamp, p.step) > metric_sort_key(
            *current
        ):
            best[p.key] = (p.value, p.timestamp, p.step)
    return best


def _buffer_entries(points: list[Point]) -> dict[str, list[bytes]] | None:
    """Per key, the packed distinct points for its LATEST buffer; None when a key has more
    than a buffer holds (a history upload: blocks suit it better)."""
    by_key: dict[str, dict[tuple, bytes]] = {}
    for p in points:
        by_key.setdefault(p.key, {})[(p.timestamp, p.step, repr(p.value))] = pack_point(p)
    if any(len(entries) > BUFFER_POINTS for entries in by_key.values()):
        return None
    return {key: list(entries.values()) for key, entries in by_key.items()}


class RunMetricOps:
    """Mixed into DynamoDBTrackingStore through RunOps."""

    runs: RunRepository
    metric_history: MetricHistoryRepository

    def _history_ttl(self) -> int | None:
        """``ttl`` of history written now (metric-history retention; None keeps it)."""
        return metric_history_ttl(retention_of(self._conn), get_current_time_millis())

    def _history_change(self, run_id: str, points: list[Point]) -> dict:
        """The metric part of a run change. A few history items ride in META's transaction
        (one request fewer); more are written first with BatchWriteItem (idempotent, so a
        retried META write neither loses nor duplicates them, and they cost 1 WCU per KB,
        not 2)."""
        if not points:
            return {}
        items = self.metric_history.items(run_id, points, self._history_ttl())
        if len(items) > INLINE_ITEMS:
            self.metric_history.write(items)
            items = []
        return {"metrics": latest_per_key(points), "extra_puts": items}

    def _log_newer_metrics(self, run_id: str, points: list[Point]) -> bool:
        """The training-loop path: newer points of a running run, with no read. Without
        metric-history retention the points ride in the run's LIVE item, the only item the
        step writes (one TransactWriteItems; repositories/runs/live_step.py); with it they
        are items of their own carrying their ``ttl`` (in the transaction, or a
        BatchWriteItem after it for more than a few). False when it does not apply;
        nothing was written then."""
        ttl = self._history_ttl()
        workspace = self._get_active_workspace()
        best = latest_per_key(points)
        if ttl is None:
            recent = _buffer_entries(points)
            if recent is None:
                return False  # a history upload: blocks through the read path suit it
            return self.runs.log_newer_metrics(run_id, workspace, best, [], recent)
        # The history follows the transaction, so a refused write (deleted run, other
        # workspace) leaves none behind; a client retry after a failed BatchWriteItem finds
        # META current and rewrites it.
        items = self.metric_history.items(run_id, points, ttl)
        inline = len(items) <= INLINE_ITEMS
        if not self.runs.log_newer_metrics(run_id, workspace, best, items if inline else []):
            return False
        if not inline:
            self.metric_history.write(items)
        return True

    def log_metric(self, run_id, metric):
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
        points = to_points([metric])
        if self._log_newer_metrics(run_id, points):
            return
        with self._run_errors(run_id):
            read = self.runs.get_active_meta(run_id)
            self._commit_run(run_id, read=read, **self._history_change(run_id, points))

    # ---- history ---------------------------------------------------------------------
    def _check_run_accessible(self, run_id: str) -> None:
        """With workspaces on, a run of another workspace is "not found" (as the SQL
        workspace store does); without, the SQL store does not look the run up at all."""
        if self._workspaces_enabled():
            with self._run_errors(run_id):
                self.runs.get_meta(run_id)

    def _run_accessible(self, run_id: str) -> bool:
        """Whether ``_check_run_accessible`` passes (always, without workspaces)."""
        if not self._workspaces_enabled():
            return True
        try:
            self.runs.get_meta(run_id)
        except RunMissing:
            return False
        return True

    def _history(self, run_id, metric_key, max_results=None, page_token=None):
        try:
            return self.metric_history.page(str(run_id), metric_key, max_results, page_token)
        except BadPageToken:
            raise MlflowException(
                f"Invalid page token: {page_token}", INVALID_PARAMETER_VALUE
            ) from None

    def get_metric_history(self, run_id, metric_key, max_results=None, page_token=None):
        self._check_run_accessible(run_id)
        points, token = self._history(run_id, metric_key, max_results, page_token)
        return PagedList([_metric(p) for p in points], token)

    def get_metric_history_bulk(self, run_ids, metric_key, max_results):
        """Points of several runs, ordered by run id, then timestamp, step, value; at most
        ``max_results`` in all. Runs of another workspace are left out (as the SQL workspace
        store filters the run ids)."""
        result: list[MetricWithRunId] = []
        for run_id in sorted(set(run_ids)):
            if len(result) >= max_results:
                break
            if not self._run_accessible(run_id):
                continue
            points, _ = self._history(run_id, metric_key, max_results - len(result))
            result += [MetricWithRunId(run_id=run_id, metric=_metric(p)) for p in points]
        return result

    def get_max_step_for_metric(self, run_id, metric_key):
        self._check_run_accessible(run_id)
        return max((p.step for p in self._history(run_id, metric_key)[0]), default=0)

    def get_metric_history_bulk_interval_from_steps(self, run_id, metric_key, steps, max_results):
        self._check_run_accessible(run_id)
        wanted = set(steps)
        history = self.metric_history.all(str(run_id), metric_key, consistent=False)
        points = [p for p in history if p.step in wanted]
        points.sort(key=Point.sql_order)
        return [MetricWithRunId(run_id=run_id, metric=_metric(p)) for p in points[:max_results]]

    def get_metric_history_bulk_interval(
        self, run_ids, metric_key, max_results, start_step, end_step
    ):
        """MLflow's SQL sampling: per run, NTILE(max_results) over the points in range in
        (step, timestamp, value) order, keeping the last point."""
        if (start_step is None) != (end_step is None):
            raise MlflowException.invalid_parameter_value(
                "Both start_step and end_step must be specified together, "
                "or neither may be specified."
            )
        max_results = max(1, max_results)
        for run_id in run_ids:
            self._check_run_accessible(run_id)
        result: list[MetricWithRunId] = []
        for run_id in run_ids:
            points = self.metric_history.all(str(run_id), metric_key, consistent=False)
            if start_step is not None:
                points = [p for p in points if start_step <= p.step <= end_step]
            result += [
                MetricWithRunId(run_id=run_id, metric=_metric(p))
                for p in ntile_sample(points, max_results)
            ]
        return result


def _metric(point: Point) -> Metric:
    return Metric(key=point.key, value=point.value, timestamp=point.timestamp, step=point.step)
