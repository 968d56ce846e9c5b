"""Scorer operations of the tracking store facade (MLflow 3 GenAI scorers and online
scoring), with the SQL store's rules, messages and error codes
(mlflow/store/tracking/sqlalchemy_store.py, ``register_scorer`` .. ``get_active_online_scorers``).

A scorer whose model is an AI gateway endpoint (``gateway:/<name>``) is stored as the SQL
store does it: with the endpoint's id in place of its name and an endpoint binding
(resource type ``scorer``, the scorer id), and every read gives the name back (or no model
once the endpoint is deleted).
Deliberate differences (docs/scorers.md): a serialized scorer that is not a JSON object is
INVALID_PARAMETER_VALUE (the SQL store fails with a bare JSON or attribute error, a 500).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from mlflow.entities import LifecycleStage
from mlflow.entities.gateway_endpoint import GatewayResourceType
from mlflow.entities.scorer import ScorerVersion
from mlflow.exceptions import MlflowException
from mlflow.genai.scorers.online.entities import OnlineScorer, OnlineScoringConfig
from mlflow.genai.scorers.scorer_utils import (
    build_gateway_model,
    extract_endpoint_ref,
    extract_model_from_serialized_scorer,
    is_gateway_model,
    update_model_in_serialized_scorer,
    validate_scorer_model,
    validate_scorer_name,
)
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.utils.search_utils import SearchTraceUtils
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.scorers import online_scorer
from mlflow_dynamodbstore.compat.validation import _parse_experiment_id, _parse_experiment_ids
from mlflow_dynamodbstore.repositories.ai_gateway.bindings import BindingRepository
from mlflow_dynamodbstore.repositories.scorers.repository import (
    MAX_SCORER_BYTES,
    ExperimentInactive,
    ScorerBusy,
    ScorerMissing,
    ScorerRepository,
    ScorerTooLarge,
    ScorerVersionMissing,
    unpack,
)
from mlflow_dynamodbstore.stores.tracking.experiment_ops import experiment_not_active

Item = dict[str, Any]
# From this many experiment ids on, list_scorers_across_experiments reads the workspace's
# scorer listing (GSI1, one Query per MB) rather than one Query per experiment.
_WORKSPACE_LISTING_FROM = 3


def _not_found(name: str, experiment_id, version=None) -> MlflowException:
    if version is not None:
        return MlflowException(
            f"Scorer with name '{name}' and version {version} not found for "
            f"experiment {experiment_id}.",
            RESOURCE_DOES_NOT_EXIST,
        )
    return MlflowException(
        f"Scorer with name '{name}' not found for experiment {experiment_id}.",
        RESOURCE_DOES_NOT_EXIST,
    )


def _version_number(version: Any) -> int | None:
    """The version the SQL store's ``scorer_version == :version`` would match (SQLite
    converts numeric text for an INTEGER column); None if it can match none."""
    if isinstance(version, bool):
        return int(version)
    if isinstance(version, int):
        return version
    if isinstance(version, float):
        return int(version) if version.is_integer() else None
    if isinstance(version, str):
        with contextlib.suppress(ValueError):
            return int(version.strip())
    return None


def _to_scorer_version(item: Item, serialized: str | None = None) -> ScorerVersion:
    """A version item, or a head item (its copy of the latest version)."""
    is_head = "latest" in item
    return ScorerVersion(
        experiment_id=str(item["experiment_id"]),
        scorer_name=item["scorer_name"],
        scorer_version=int(item["latest"] if is_head else item["version"]),
        serialized_scorer=unpack(item) if serialized is None else serialized,
        creation_time=int(item["latest_creation_time"] if is_head else item["creation_time"]),
        scorer_id=item["scorer_id"],
    )


def _to_online_config(item: Item) -> OnlineScoringConfig:
    return OnlineScoringConfig(
        online_scoring_config_id=item["online_scoring_config_id"],
        scorer_id=item["scorer_id"],
        sample_rate=float(item["sample_rate"]),
        experiment_id=str(item["experiment_id"]),
        filter_string=item.get("filter_string"),
    )


def _model_of(serialized: str) -> str | None:
    return extract_model_from_serialized_scorer(json.loads(serialized))


class ScorerOps:
    """Mixed into DynamoDBTrackingStore, which provides ``gateway``, ``get_experiment`` and
    ``_get_active_workspace``."""

    @cached_property
    def scorers(self) -> ScorerRepository:
        return ScorerRepository(self.gateway)

    def _active_experiment_id(self, experiment_id) -> str:
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise experiment_not_active(experiment.experiment_id, experiment.lifecycle_stage)
        return experiment.experiment_id

    @contextlib.contextmanager
    def _scorer_errors(self, name: str, experiment_id, version=None) -> Iterator[None]:
        try:
            yield
        except ScorerMissing:
            raise _not_found(name, experiment_id) from None
        except ScorerVersionMissing:
            raise _not_found(name, experiment_id, version) from None
        except ScorerBusy:
            raise MlflowException(
                f"Too many concurrent changes to scorer '{name}'; try again.",
                TEMPORARILY_UNAVAILABLE,
            ) from None

    def _head(self, experiment_id: str, name) -> Item | None:
        if not isinstance(name, str) or not name:
            return None  # the SQL store's name filter matches no row
        return self.scorers.head(experiment_id, name)

    # ---- register / read -------------------------------------------------------------
    def register_scorer(
        self, experiment_id: str, name: str, serialized_scorer: str
    ) -> ScorerVersion:
        validate_scorer_name(name)
        experiment_id = self._active_experiment_id(experiment_id)
        try:
            serialized_data = json.loads(serialized_scorer)
        except (TypeError, ValueError):
            raise MlflowException.invalid_parameter_value(
                "serialized_scorer must be valid JSON"
            ) from None
        if not isinstance(serialized_data, dict):
            raise MlflowException.invalid_parameter_value("serialized_scorer must be a JSON object")
        model = extract_model_from_serialized_scorer(serialized_data)
        validate_scorer_model(model)
        endpoint_id = None
        if is_gateway_model(model):
            # the SQL store keeps the endpoint's id (names can change); unknown name: 404
            endpoint_id = self.get_gateway_endpoint(name=extract_endpoint_ref(model)).endpoint_id
            serialized_scorer = json.dumps(
                update_model_in_serialized_scorer(serialized_data, build_gateway_model(endpoint_id))
            )
        try:
            with self._scorer_errors(name, experiment_id):
                item = self.scorers.register(
                    experiment_id=experiment_id,
                    name=name,
                    workspace=self._get_active_workspace(),
                    serialized=serialized_scorer,
                    now=get_current_time_millis(),
                )
        except ExperimentInactive:
            raise experiment_not_active(experiment_id, LifecycleStage.DELETED) from None
        except ScorerTooLarge:
            raise MlflowException.invalid_parameter_value(
                f"Scorer '{name}' is too large to store: its serialized form compresses to more "
                f"than {MAX_SCORER_BYTES} bytes (DynamoDB's 400 KB item limit)."
            ) from None
        entity = _to_scorer_version(item, serialized_scorer)
        if endpoint_id is not None:
            self._bind_scorer(entity.scorer_id, endpoint_id, name)
        return self.resolve_endpoint_in_scorer(entity)

    def _scorer_bindings(self, scorer_id: str) -> tuple[BindingRepository, list[Item]]:
        bindings = BindingRepository(self.gateway)
        mine = [
            b
            for b in bindings.list()
            if b["resource_type"] == GatewayResourceType.SCORER.value
            and b["resource_id"] == scorer_id
        ]
        return bindings, mine

    def _bind_scorer(self, scorer_id: str, endpoint_id: str, name: str) -> None:
        """Replace the scorer's endpoint bindings by one to this endpoint (as SQL on each
        registration); an endpoint deleted meanwhile gets none (SQL checks it too)."""
        bindings, old = self._scorer_bindings(scorer_id)
        bindings.delete_all(old)
        with contextlib.suppress(Exception):
            bindings.create(
                endpoint_id=endpoint_id,
                resource_type=GatewayResourceType.SCORER.value,
                resource_id=scorer_id,
                created_by=None,
                display_name=name,
                now=get_current_time_millis(),
                replace=True,
            )

    def list_scorers(self, experiment_id) -> list[ScorerVersion]:
        return self.list_scorers_across_experiments([self._active_experiment_id(experiment_id)])

    def list_scorers_across_experiments(self, experiment_ids: list[str]) -> list[ScorerVersion]:
        """Latest version of every scorer of these experiments, by (experiment id, name).
        Like the SQL store, experiments are not checked; heads of other workspaces are not
        visible (the SQL store's query here is not workspace-filtered: its callers pass ids
        of the workspace's experiments). From three ids on the result comes from a GSI and
        may lag by about a second."""
        if not experiment_ids:
            return []
        wanted = [str(i) for i in dict.fromkeys(_parse_experiment_ids(experiment_ids))]
        if len(wanted) < _WORKSPACE_LISTING_FROM:
            heads = [h for eid in wanted for h in self.scorers.heads(eid)]
        else:
            # One listing of the workspace's scorers instead of a Query per experiment (the
            # server passes every active experiment of the workspace here).
            chosen = set(wanted)
            heads = [
                h
                for h in self.scorers.heads_in_workspace(self._get_active_workspace())
                if str(h["experiment_id"]) in chosen
            ]
        heads = [h for h in heads if int(h["latest"]) > 0]
        heads.sort(key=lambda h: (int(h["experiment_id"]), h["scorer_name"]))
        # The SQL store re-serializes listed scorers (json.dumps of json.loads) and gives
        # gateway endpoints their names back.
        serialized = self._batch_resolve_endpoints([unpack(h) for h in heads])
        return [_to_scorer_version(h, s) for h, s in zip(heads, serialized, strict=True)]

    def get_scorer(self, experiment_id, name, version=None) -> ScorerVersion:
        head = self._head(self._active_experiment_id(experiment_id), name)
        if head is None:
            raise _not_found(name, experiment_id)
        if version is None:
            if int(head["latest"]) == 0:
                raise _not_found(name, experiment_id)
            return self.resolve_endpoint_in_scorer(_to_scorer_version(head))
        number = _version_number(version)
        if number is not None and number == int(head["latest"]):
            return self.resolve_endpoint_in_scorer(_to_scorer_version(head))
        item = None if number is None else self.scorers.version(head["scorer_id"], number)
        if item is None:
            raise _not_found(name, experiment_id, version)
        return self.resolve_endpoint_in_scorer(_to_scorer_version(item))

    def _get_scorer_version(self, scorer_id: str, version: int | None = None) -> ScorerVersion:
        """A scorer version by scorer id (the SQL store's helper for gateway bindings, which
        takes a session first; this store has none). Scoped to the active workspace."""
        if version is None:
            item = self.scorers.latest_version(scorer_id)
            if item is None:
                raise MlflowException(
                    f"Scorer with ID '{scorer_id}' not found.", RESOURCE_DOES_NOT_EXIST
                )
            return _to_scorer_version(item)
        number = _version_number(version)
        item = None if number is None else self.scorers.version(scorer_id, number)
        if item is None:
            if not self.scorers.versions(scorer_id):
                raise MlflowException(
                    f"Scorer with ID '{scorer_id}' not found.", RESOURCE_DOES_NOT_EXIST
                )
            raise MlflowException(
                f"Scorer with ID '{scorer_id}' and version {version} not found.",
                RESOURCE_DOES_NOT_EXIST,
            )
        return _to_scorer_version(item)

    def list_scorer_versions(self, experiment_id, name) -> list[ScorerVersion]:
        head = self._head(self._active_experiment_id(experiment_id), name)
        versions = self.scorers.versions(head["scorer_id"]) if head else []
        if not versions:
            raise _not_found(name, experiment_id)
        serialized = self._batch_resolve_endpoints([unpack(v) for v in versions])
        return [_to_scorer_version(v, s) for v, s in zip(versions, serialized, strict=True)]

    def delete_scorer(self, experiment_id, name, version=None) -> None:
        active_id = self._active_experiment_id(experiment_id)
        with self._scorer_errors(name, experiment_id, version):
            if not isinstance(name, str) or not name:
                raise ScorerMissing(name)
            if version is None:
                scorer_id = self.scorers.delete_all(active_id, name)
                bindings, mine = self._scorer_bindings(scorer_id)
                bindings.delete_all(mine)
                return
            number = _version_number(version)
            if number is None:
                if self._head(active_id, name) is None:
                    raise ScorerMissing(name)
                raise ScorerVersionMissing(version)
            self.scorers.delete_version(active_id, name, number)

    # ---- online scoring ----------------------------------------------------------------
    def get_online_scoring_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        if not scorer_ids:
            return []
        return [_to_online_config(c) for c in self.scorers.online_configs(scorer_ids)]

    def upsert_online_scoring_config(
        self,
        experiment_id: str,
        scorer_name: str,
        sample_rate: float,
        filter_string: str | None = None,
    ) -> OnlineScoringConfig:
        if not isinstance(sample_rate, (int, float)):
            raise MlflowException.invalid_parameter_value(
                f"sample_rate must be a number, got {type(sample_rate).__name__}"
            )
        if not 0.0 <= sample_rate <= 1.0:
            raise MlflowException.invalid_parameter_value(
                f"sample_rate must be between 0.0 and 1.0, got {sample_rate}"
            )
        if filter_string:
            if not isinstance(filter_string, str):
                raise MlflowException.invalid_parameter_value(
                    f"filter_string must be a string, got {type(filter_string).__name__}"
                )
            SearchTraceUtils.parse_search_filter_for_search_traces(filter_string)
        active_id = self._active_experiment_id(experiment_id)
        head = self._head(active_id, scorer_name)
        if head is None:
            raise _not_found(scorer_name, experiment_id)
        if int(head["latest"]) > 0 and sample_rate > 0:
            self._check_online_compatible(scorer_name, unpack(head))
        with self._scorer_errors(scorer_name, experiment_id):
            config = self.scorers.put_online_config(
                head,
                experiment_id=str(_parse_experiment_id(experiment_id)),
                sample_rate=sample_rate,
                filter_string=filter_string,
                now=get_current_time_millis(),
            )
        return _to_online_config(config)

    @staticmethod
    def _check_online_compatible(scorer_name: str, serialized: str) -> None:
        """The SQL store's rules: online scoring needs a gateway model and no expectations."""
        model = _model_of(serialized)
        if not is_gateway_model(model):
            raise MlflowException(
                f"Scorer '{scorer_name}' does not use a gateway model. "
                "Automatic evaluation is only supported for scorers that use "
                "gateway models.",
                INVALID_PARAMETER_VALUE,
            )

    def get_active_online_scorers(self) -> list[OnlineScorer]:
        """Active configs (sample_rate > 0) of the active workspace whose scorer's latest
        version uses a gateway model, as the SQL store (workspace-aware: its query joins the
        configs' experiments on the workspace)."""
        result = []
        for config, head in self.scorers.active_online(self._get_active_workspace()):
            serialized = unpack(head)
            if not is_gateway_model(_model_of(serialized)):
                continue
            result.append(
                online_scorer(
                    name=head["scorer_name"],
                    serialized_scorer=self._resolve_endpoint_in_serialized_scorer(serialized),
                    online_config=_to_online_config(config),
                    scorer_version=int(head["latest"]),
                )
            )
        return result

    # ---- gateway endpoint references ---------------------------------------------------
    def resolve_endpoint_in_scorer(self, scorer_version: ScorerVersion) -> ScorerVersion:
        """As the SQL store: a ``gateway:/<endpoint id>`` model gets the endpoint's name back,
        or no model once the endpoint is deleted; other scorers are returned as they are."""
        data = json.loads(scorer_version._serialized_scorer)
        model = extract_model_from_serialized_scorer(data)
        if not is_gateway_model(model):
            return scorer_version
        try:
            endpoint = self.get_gateway_endpoint(endpoint_id=extract_endpoint_ref(model))
            new_model = build_gateway_model(endpoint.name)
        except MlflowException:
            new_model = None
        return ScorerVersion(
            experiment_id=scorer_version.experiment_id,
            scorer_id=scorer_version.scorer_id,
            scorer_version=scorer_version.scorer_version,
            scorer_name=scorer_version.scorer_name,
            serialized_scorer=json.dumps(update_model_in_serialized_scorer(data, new_model)),
            creation_time=scorer_version.creation_time,
        )

    def _batch_resolve_endpoints(self, serialized_scorers: list[str]) -> list[str]:
        """The SQL store's batch resolution: one endpoint listing for all of them (read
        only when one of them uses a gateway endpoint), every scorer re-serialized."""
        names: dict[str, str] | None = None
        resolved = []
        for serialized in serialized_scorers:
            data = json.loads(serialized)
            model = extract_model_from_serialized_scorer(data)
            if is_gateway_model(model):
                if not names:
                    names = {e.endpoint_id: e.name for e in self.list_gateway_endpoints()}
                name = names.get(extract_endpoint_ref(model))
                data = update_model_in_serialized_scorer(
                    data, build_gateway_model(name) if name else None
                )
            resolved.append(json.dumps(data))
        return resolved

    def _resolve_endpoint_in_serialized_scorer(self, serialized_scorer: str) -> str:
        """As the SQL store: the endpoint's name, or the scorer unchanged if it is gone."""
        data = json.loads(serialized_scorer)
        model = extract_model_from_serialized_scorer(data)
        if is_gateway_model(model):
            with contextlib.suppress(MlflowException):
                endpoint = self.get_gateway_endpoint(endpoint_id=extract_endpoint_ref(model))
                data = update_model_in_serialized_scorer(data, build_gateway_model(endpoint.name))
        return json.dumps(data)
