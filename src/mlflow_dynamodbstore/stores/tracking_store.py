"""MLflow tracking store backed by one DynamoDB table (the ``dynamodb://`` scheme).

A thin facade: validate with MLflow's validators, call the repositories, return MLflow
entities. Key formats and boto3 live below this layer. The operations are grouped in one
mixin per aggregate under ``stores/tracking/``.
"""

from __future__ import annotations

from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.store.workspace_aware_mixin import WorkspaceAwareMixin
from mlflow.utils.uri import resolve_uri_if_local

from mlflow_dynamodbstore.provisioning.seed import ensure_seeded
from mlflow_dynamodbstore.repositories.experiments import (
    DEFAULT_EXPERIMENT_ID,
    ExperimentRepository,
)
from mlflow_dynamodbstore.repositories.issues import IssueRepository
from mlflow_dynamodbstore.repositories.labeling.label_schemas import LabelSchemaRepository
from mlflow_dynamodbstore.repositories.labeling.queue_items import QueueItemRepository
from mlflow_dynamodbstore.repositories.labeling.review_queues import ReviewQueueRepository
from mlflow_dynamodbstore.repositories.runs.inputs import RunInputsRepository
from mlflow_dynamodbstore.repositories.runs.metric_history import MetricHistoryRepository
from mlflow_dynamodbstore.repositories.runs.repository import RunRepository
from mlflow_dynamodbstore.stores.connection import connect
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors
from mlflow_dynamodbstore.stores.tracking.dataset_ops import DatasetOps
from mlflow_dynamodbstore.stores.tracking.experiment_ops import ExperimentOps
from mlflow_dynamodbstore.stores.tracking.gateway_binding_ops import GatewayBindingOps
from mlflow_dynamodbstore.stores.tracking.gateway_budget_ops import GatewayBudgetOps
from mlflow_dynamodbstore.stores.tracking.gateway_config_ops import GatewayConfigOps
from mlflow_dynamodbstore.stores.tracking.gateway_cost_ops import GatewayCostOps
from mlflow_dynamodbstore.stores.tracking.gateway_endpoint_ops import GatewayEndpointOps
from mlflow_dynamodbstore.stores.tracking.gateway_guardrail_ops import GatewayGuardrailOps
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import GatewaySecretOps
from mlflow_dynamodbstore.stores.tracking.issue_ops import IssueOps
from mlflow_dynamodbstore.stores.tracking.labeling_ops import LabelingOps
from mlflow_dynamodbstore.stores.tracking.logged_model_ops import LoggedModelOps
from mlflow_dynamodbstore.stores.tracking.mcp_endpoint_ops import McpEndpointOps
from mlflow_dynamodbstore.stores.tracking.mcp_server_ops import McpServerOps
from mlflow_dynamodbstore.stores.tracking.mcp_version_ops import McpVersionOps
from mlflow_dynamodbstore.stores.tracking.review_queue_ops import ReviewQueueOps
from mlflow_dynamodbstore.stores.tracking.run_ops import RunOps
from mlflow_dynamodbstore.stores.tracking.scorer_ops import ScorerOps
from mlflow_dynamodbstore.stores.tracking.search_run_ops import SearchRunOps
from mlflow_dynamodbstore.stores.tracking.trace_archival_ops import TraceArchivalOps
from mlflow_dynamodbstore.stores.tracking.trace_ops import TraceOps
from mlflow_dynamodbstore.stores.tracking.unsupported import mark_unsupported

DEFAULT_ARTIFACT_ROOT = "./mlruns"


@translate_gateway_errors
class DynamoDBTrackingStore(
    DatasetOps,
    ExperimentOps,
    GatewayBindingOps,
    GatewayBudgetOps,
    GatewayConfigOps,
    GatewayCostOps,
    GatewayEndpointOps,
    GatewayGuardrailOps,
    GatewaySecretOps,
    IssueOps,
    LabelingOps,
    LoggedModelOps,
    McpEndpointOps,
    McpServerOps,
    McpVersionOps,
    ReviewQueueOps,
    RunOps,
    ScorerOps,
    SearchRunOps,
    TraceArchivalOps,
    TraceOps,
    WorkspaceAwareMixin,
    AbstractStore,
):
    DEFAULT_EXPERIMENT_ID = DEFAULT_EXPERIMENT_ID

    def __init__(self, store_uri: str, artifact_uri: str | None = None):
        super().__init__()
        self.store_uri = store_uri
        self.artifact_root_uri = resolve_uri_if_local(artifact_uri or DEFAULT_ARTIFACT_ROOT)
        self._conn = connect(store_uri, serve_while_unavailable=True)
        # Seeding and workspace items are above any one workspace; everything else goes
        # through the request's workspace scope.
        self.gateway = self._conn.workspace_scoped(self._get_active_workspace)
        self.experiments = ExperimentRepository(self.gateway, self._conn.settings)
        self.runs = RunRepository(self.gateway, self.experiments, settings=self._conn.settings)
        self.metric_history = MetricHistoryRepository(self.gateway)
        self.run_inputs = RunInputsRepository(self.gateway)
        self.label_schemas = LabelSchemaRepository(self.gateway)
        self.review_queues = ReviewQueueRepository(self.gateway)
        self.queue_items = QueueItemRepository(self.gateway)
        self.issues = IssueRepository(self.gateway)
        location = self._get_artifact_location(DEFAULT_EXPERIMENT_ID)
        self._conn.when_ready("seed", lambda: ensure_seeded(self._conn.gateway, location))


mark_unsupported(DynamoDBTrackingStore, AbstractStore)
