"""search_experiments: read the workspace's experiments from GSI1 (one partition, a few
hundred bytes per experiment), then filter, order and page in memory with MLflow's own
SearchExperimentsUtils, ordering exactly as the SQL store does."""

from __future__ import annotations

from mlflow.entities import Experiment, LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository, to_experiment
from mlflow_dynamodbstore.search.validation import validate_max_results

_DEFAULT_ORDER = ["creation_time DESC", "experiment_id ASC"]


def _order_key(order_by: list[str] | None):
    clauses = []
    for type_, key, ascending in map(
        SearchExperimentsUtils.parse_order_by_for_search_experiments, order_by or _DEFAULT_ORDER
    ):
        if type_ != "attribute":
            raise MlflowException.invalid_parameter_value(f"Invalid order_by entity: {type_}")
        clauses.append((key, ascending))
    if not any(key == "experiment_id" for key, _ in clauses):
        clauses.append(("experiment_id", False))  # the SQL store's tie-breaker

    def value(experiment: Experiment, key: str):
        raw = getattr(experiment, key)
        # experiment ids are integers in the SQL store and sort numerically there
        return int(raw) if key == "experiment_id" and str(raw).isdigit() else raw

    # None of these attributes is ever NULL here, so no NULL placement rule is needed.
    def key_fn(experiment: Experiment):
        return tuple(_Ordered(value(experiment, key), asc) for key, asc in clauses)

    return key_fn


class _Ordered:
    __slots__ = ("ascending", "value")

    def __init__(self, value, ascending: bool):
        self.value = value
        self.ascending = ascending

    def __eq__(self, other) -> bool:
        return self.value == other.value

    def __lt__(self, other) -> bool:
        return self.value < other.value if self.ascending else other.value < self.value


def search_experiments_in_memory(
    repository: ExperimentRepository,
    workspace: str,
    *,
    view_type: int,
    max_results: int,
    filter_string: str | None,
    order_by: list[str] | None,
    page_token: str | None,
) -> PagedList[Experiment]:
    validate_max_results(max_results)
    # Parse first so that bad input fails before any read.
    SearchExperimentsUtils.parse_search_filter(filter_string)
    sort_key = _order_key(order_by)
    offset = SearchUtils.parse_start_offset_from_page_token(page_token)

    stages = LifecycleStage.view_type_to_stages(view_type)
    if len(stages) == 1:
        items = list(repository.list_in_workspace(workspace, stages[0]))
    else:
        items = [
            i for i in repository.list_in_workspace(workspace) if i["lifecycle_stage"] in stages
        ]
    experiments = SearchExperimentsUtils.filter([to_experiment(i) for i in items], filter_string)
    experiments.sort(key=sort_key)
    page = experiments[offset : offset + max_results]
    token = None
    if offset + max_results < len(experiments):
        token = SearchUtils.create_page_token(offset + max_results)
    return PagedList(page, token)
