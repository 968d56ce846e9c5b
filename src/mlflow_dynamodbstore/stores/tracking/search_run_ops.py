"""search_runs of the tracking store facade: validate like the SQL store, plan and read
through search/runs_planner, return MLflow Runs and an opaque page token."""

from __future__ import annotations

from collections.abc import Callable

from mlflow.entities import LifecycleStage, Run

from mlflow_dynamodbstore.compat.validation import _parse_experiment_ids
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.tag_index import (
    TagIndexReader,
    TagIndexState,
    narrows,
    ready_for,
)
from mlflow_dynamodbstore.search.runs.filter import ATTRIBUTE, TAG, RunFilter, parse_run_filter
from mlflow_dynamodbstore.search.runs.order import parse_run_order
from mlflow_dynamodbstore.search.runs.planner import RunSearch
from mlflow_dynamodbstore.search.runs.reads import read_experiments
from mlflow_dynamodbstore.search.runs.results import result_runs
from mlflow_dynamodbstore.search.runs.token import decode_page_token, encode_page_token
from mlflow_dynamodbstore.search.validation import validate_max_results
from mlflow_dynamodbstore.stores.connection import Connection


class SearchRunOps:
    """Mixed into DynamoDBTrackingStore, which provides ``gateway`` and
    ``_get_active_workspace``; AbstractStore.search_runs wraps ``_search_runs``."""

    gateway: TableGateway
    _conn: Connection

    def _search_runs(
        self, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
    ) -> tuple[list[Run], str | None]:
        # The SQL store's checks, in its order, all before the first read.
        validate_max_results(max_results, allow_null=True)
        run_filter = parse_run_filter(filter_string)
        order = parse_run_order(order_by)
        cursor = decode_page_token(order, page_token)
        ids = [str(i) for i in _parse_experiment_ids(experiment_ids)]

        experiments = read_experiments(self.gateway, ids) if ids else {}
        search = RunSearch(
            gateway=self.gateway,
            experiments=experiments,
            stages=set(LifecycleStage.view_type_to_stages(run_view_type)),
            run_filter=run_filter,
            order=order,
            max_results=max_results,
            fts=TrigramIndex(self.gateway, self._conn.settings),
            tag_index=TagIndexReader(self.gateway),
            tag_ready=self._tag_index_ready(run_filter),
        )
        views, more = search.run(cursor)
        runs = result_runs(
            self.gateway,
            views,
            experiments,
            search.loader.partitions,
        )
        token = encode_page_token(order, order.token_key(views[-1])) if more else None
        return runs, token

    def _tag_index_ready(self, run_filter: RunFilter) -> Callable[[str, str], bool] | None:
        """(experiment, tag key) -> may the search trust the tag index? Only when the key is
        configured now (writes maintain it) and complete (backfilled): the state item is
        read (1 GetItem) only for filters with a clause the index could narrow."""
        if not any(
            (c.kind == TAG or (c.kind == ATTRIBUTE and c.key == "run_name"))
            and narrows(c.comparator, c.value)
            for c in run_filter.clauses
        ):
            return None
        settings = self._conn.settings.current()
        ready = TagIndexState(self._conn.gateway).load()
        return lambda exp, key: settings.indexes_tag(exp, key) and ready_for(ready, exp, key)
