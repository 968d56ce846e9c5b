"""AI gateway guardrails and endpoint guardrail configs, as the SQL store."""

from __future__ import annotations

import uuid
import zlib

from mlflow.entities.gateway_guardrail import (
    GatewayGuardrail,
    GatewayGuardrailConfig,
    GuardrailAction,
    GuardrailStage,
)
from mlflow.entities.scorer import ScorerVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.ai_gateway.common import AlreadyAttached, Item, Missing
from mlflow_dynamodbstore.repositories.ai_gateway.guardrails import (
    EndpointGone,
    GuardrailRepository,
)
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import not_found
from mlflow_dynamodbstore.stores.tracking.labeling_ops import validate_max_results


def _config_missing(endpoint_id: str, guardrail_id: str) -> MlflowException:
    return not_found("GuardrailConfig", endpoint_id=endpoint_id, guardrail_id=guardrail_id)


class GatewayGuardrailOps:
    """Mixed into DynamoDBTrackingStore with the endpoint and scorer operations."""

    @property
    def ai_guardrails(self) -> GuardrailRepository:
        return GuardrailRepository(self.gateway)

    def _guardrail_entities(self, items: list[Item]) -> list[GatewayGuardrail]:
        action_ids = {i["action_endpoint_id"] for i in items if i.get("action_endpoint_id")}
        names: dict[str, str] = {}
        if len(action_ids) == 1:
            found = self.ai_endpoints.get(next(iter(action_ids)))
            if found is not None:
                names[found.item["endpoint_id"]] = found.item.get("name")
        elif action_ids:
            names = {e.item["endpoint_id"]: e.item.get("name") for e in self.ai_endpoints.list()}
        return [
            GatewayGuardrail(
                guardrail_id=i["guardrail_id"],
                name=i["name"],
                scorer=ScorerVersion(
                    experiment_id=str(i["scorer_experiment_id"]),
                    scorer_name=i["scorer_name"],
                    scorer_version=int(i["scorer_version"]),
                    serialized_scorer=zlib.decompress(bytes(i["z"])).decode("utf-8"),
                    creation_time=int(i["scorer_creation_time"]),
                    scorer_id=i["scorer_id"],
                ),
                stage=GuardrailStage(i["stage"]),
                action=GuardrailAction(i["action"]),
                # an action endpoint deleted since reads as none (SQL's ON DELETE SET NULL)
                action_endpoint_name=names.get(i.get("action_endpoint_id")),
                created_at=int(i["created_at"]),
                last_updated_at=int(i["last_updated_at"]),
                created_by=i.get("created_by"),
                last_updated_by=i.get("last_updated_by"),
                workspace=i.get("workspace"),
            )
            for i in items
        ]

    def create_gateway_guardrail(
        self,
        name: str,
        scorer_id: str,
        scorer_version: int,
        stage: GuardrailStage,
        action: GuardrailAction,
        action_endpoint_id: str | None = None,
        created_by: str | None = None,
    ) -> GatewayGuardrail:
        from mlflow_dynamodbstore.compat.scorers import _serialized_scorer_is_custom_code

        version = self._get_scorer_version(scorer_id, scorer_version)
        serialized = version._serialized_scorer
        if _serialized_scorer_is_custom_code(serialized):
            raise MlflowException(
                "Gateway guardrails do not support custom scorers defined with the @scorer "
                "decorator. Use a built-in scorer or a judge created with make_judge.",
                INVALID_PARAMETER_VALUE,
            )
        now = get_current_time_millis()
        item = self.ai_guardrails.create(
            {
                "guardrail_id": f"gr-{uuid.uuid4().hex}",
                "name": name,
                "scorer_id": scorer_id,
                "scorer_version": int(version.scorer_version),
                "scorer_name": version.scorer_name,
                "scorer_experiment_id": str(version.experiment_id),
                "scorer_creation_time": int(version.creation_time),
                "z": zlib.compress(serialized.encode("utf-8")),
                "stage": stage.value,
                "action": action.value,
                "action_endpoint_id": action_endpoint_id,
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
            }
        )
        return self._guardrail_entities([item])[0]

    def get_gateway_guardrail(self, guardrail_id: str) -> GatewayGuardrail:
        item = self.ai_guardrails.get(guardrail_id)
        if item is None:
            raise not_found("Guardrail", guardrail_id=guardrail_id)
        return self._guardrail_entities([item])[0]

    def delete_gateway_guardrail(self, guardrail_id: str) -> None:
        try:
            self.ai_guardrails.delete(guardrail_id)
        except Missing:
            raise not_found("Guardrail", guardrail_id=guardrail_id) from None

    def list_gateway_guardrails(
        self, max_results: int = SEARCH_MAX_RESULTS_DEFAULT, page_token: str | None = None
    ) -> PagedList[GatewayGuardrail]:
        validate_max_results(max_results)
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        items = self.ai_guardrails.list()
        page = items[offset : offset + max_results]
        token = (
            SearchUtils.create_page_token(offset + max_results)
            if len(items) > offset + max_results
            else None
        )
        return PagedList(self._guardrail_entities(page), token)

    def _config_entities(self, configs: list[Item]) -> list[GatewayGuardrailConfig]:
        guardrails = self.ai_guardrails.many({c["guardrail_id"] for c in configs})
        entities = {g.guardrail_id: g for g in self._guardrail_entities(list(guardrails.values()))}
        return [
            GatewayGuardrailConfig(
                endpoint_id=c["endpoint_id"],
                guardrail_id=c["guardrail_id"],
                execution_order=int(c["execution_order"])
                if c.get("execution_order") is not None
                else None,
                created_at=int(c["created_at"]),
                guardrail=entities.get(c["guardrail_id"]),
                created_by=c.get("created_by"),
                workspace=c.get("workspace"),
            )
            for c in configs
        ]

    def add_guardrail_to_endpoint(
        self,
        endpoint_id: str,
        guardrail_id: str,
        execution_order: int | None = None,
        created_by: str | None = None,
    ) -> GatewayGuardrailConfig:
        if self.ai_endpoints.get(endpoint_id) is None:
            raise not_found("Endpoint", endpoint_id=endpoint_id)
        if self.ai_guardrails.get(guardrail_id) is None:
            raise not_found("Guardrail", guardrail_id=guardrail_id)
        try:
            config = self.ai_guardrails.add(
                endpoint_id=endpoint_id,
                guardrail_id=guardrail_id,
                execution_order=execution_order,
                created_by=created_by,
                now=get_current_time_millis(),
            )
        except EndpointGone:
            raise not_found("Endpoint", endpoint_id=endpoint_id) from None
        except Missing:
            raise not_found("Guardrail", guardrail_id=guardrail_id) from None
        except AlreadyAttached:
            raise MlflowException(
                f"Guardrail '{guardrail_id}' is already added to endpoint '{endpoint_id}'",
                error_code=RESOURCE_ALREADY_EXISTS,
            ) from None
        return self._config_entities([config])[0]

    def update_endpoint_guardrail_config(
        self, endpoint_id: str, guardrail_id: str, execution_order: int | None = None
    ) -> GatewayGuardrailConfig:
        if self.ai_guardrails.config(endpoint_id, guardrail_id) is None:
            raise _config_missing(endpoint_id, guardrail_id)
        try:
            config = self.ai_guardrails.set_order(endpoint_id, guardrail_id, execution_order)
        except Missing:
            raise _config_missing(endpoint_id, guardrail_id) from None
        return self._config_entities([config])[0]

    def remove_guardrail_from_endpoint(self, endpoint_id: str, guardrail_id: str) -> None:
        try:
            self.ai_guardrails.remove(endpoint_id, guardrail_id)
        except Missing:
            raise _config_missing(endpoint_id, guardrail_id) from None

    def list_endpoint_guardrail_configs(self, endpoint_id: str) -> list[GatewayGuardrailConfig]:
        found = self.ai_endpoints.get(endpoint_id)
        if found is None:
            raise not_found("Endpoint", endpoint_id=endpoint_id)
        configs = sorted(
            found.guardrails,
            key=lambda c: (
                c.get("execution_order") is None,
                int(c.get("execution_order") or 0),
                c["guardrail_id"],
            ),
        )
        return self._config_entities(configs)
