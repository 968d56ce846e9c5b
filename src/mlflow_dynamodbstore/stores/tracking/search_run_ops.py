"""search_runs of the tracking store facade: validate like the SQL store, plan and read
through search/runs_planner, return MLflow Runs and an opaque page token."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mlflow.entities import LifecycleStage, Run, RunInputs
from mlflow.utils.validation import _parse_experiment_ids

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.runs import RunMissing, RunRepository
from mlflow_dynamodbstore.repositories.runs_entities import to_run
from mlflow_dynamodbstore.search.runs_filter import parse_run_filter
from mlflow_dynamodbstore.search.runs_order import parse_run_order
from mlflow_dynamodbstore.search.runs_planner import RunSearch
from mlflow_dynamodbstore.search.runs_reads import read_experiments
from mlflow_dynamodbstore.search.runs_token import decode_page_token, encode_page_token
from mlflow_dynamodbstore.search.validation import validate_max_results

_RESULT_READERS = 8  # concurrent partition reads per search page


class SearchRunOps:
    """Mixed into DynamoDBTrackingStore, which provides ``gateway``, ``runs`` and
    ``_get_active_workspace``; AbstractStore.search_runs wraps ``_search_runs``."""

    gateway: TableGateway
    runs: RunRepository

    def _search_runs(
        self, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
    ) -> tuple[list[Run], str | None]:
        # The SQL store's checks, in its order, all before the first read.
        validate_max_results(max_results, allow_null=True)
        run_filter = parse_run_filter(filter_string)
        order = parse_run_order(order_by)
        cursor = decode_page_token(order, page_token)
        ids = [str(i) for i in _parse_experiment_ids(experiment_ids)]

        workspace = self._get_active_workspace()
        experiments = read_experiments(self.gateway, ids, workspace) if ids else {}
        search = RunSearch(
            gateway=self.gateway,
            experiments=experiments,
            stages=set(LifecycleStage.view_type_to_stages(run_view_type)),
            run_filter=run_filter,
            order=order,
            max_results=max_results,
        )
        views, more = search.run(cursor)
        runs = [
            run
            for run in self._result_runs([v.run_id for v in views], workspace, experiments)
            if run
        ]
        token = encode_page_token(order, order.token_key(views[-1])) if more else None
        return runs, token

    def _result_runs(
        self, run_ids: list[str], workspace: str, experiments: dict
    ) -> list[Run | None]:
        """The page's runs with their dataset inputs and model outputs, which are not in
        META: one partition Query per run, issued concurrently (boto3 clients are
        thread-safe) so a page's latency is a few round trips, not one per run."""

        def one(run_id: str) -> Run | None:
            try:
                meta, others = self.runs.get_partition(run_id, workspace)
            except RunMissing:
                return None  # deleted for good since it was listed
            run = to_run(meta, experiments.get(str(meta["experiment_id"])), others)
            # search results carry dataset inputs and model outputs, as the SQL store's do
            inputs = RunInputs(dataset_inputs=run.inputs.dataset_inputs)
            return Run(run.info, run.data, inputs, run.outputs)

        if len(run_ids) <= 1:
            return [one(r) for r in run_ids]
        with ThreadPoolExecutor(max_workers=min(_RESULT_READERS, len(run_ids))) as pool:
            return list(pool.map(one, run_ids))
