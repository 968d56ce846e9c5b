"""AI gateway budget policies, as the SQL store (its target rules included)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from mlflow.entities.gateway_budget_policy import (
    BudgetAction,
    BudgetDuration,
    BudgetDurationUnit,
    BudgetTargetScope,
    BudgetUnit,
    GatewayBudgetPolicy,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.helpers import _normalize_budget_target_value
from mlflow_dynamodbstore.repositories.ai_gateway.budgets import BudgetRepository
from mlflow_dynamodbstore.repositories.ai_gateway.common import Item, Missing
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import not_found
from mlflow_dynamodbstore.stores.tracking.labeling_ops import validate_max_results


def _value(enum_or_str) -> str:
    return enum_or_str.value if hasattr(enum_or_str, "value") else enum_or_str


def _policy(item: Item) -> GatewayBudgetPolicy:
    return GatewayBudgetPolicy(
        budget_policy_id=item["budget_policy_id"],
        budget_unit=BudgetUnit(item["budget_unit"]),
        budget_amount=float(item["budget_amount"]),
        duration=BudgetDuration(
            unit=BudgetDurationUnit(item["duration_unit"]), value=int(item["duration_value"])
        ),
        target_scope=BudgetTargetScope(item["target_scope"]),
        budget_action=BudgetAction(item["budget_action"]),
        created_at=int(item["created_at"]),
        last_updated_at=int(item["last_updated_at"]),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        workspace=item.get("workspace"),
        target_value=item.get("target_value"),
    )


def _missing(budget_policy_id: str):
    return not_found("BudgetPolicy", budget_policy_id=budget_policy_id)


class GatewayBudgetOps:
    """Mixed into DynamoDBTrackingStore with the endpoint operations (``ai_endpoints``)."""

    @property
    def ai_budgets(self) -> BudgetRepository:
        return BudgetRepository(self.gateway)

    def _require_endpoint(self, endpoint_id: str) -> None:
        if self.ai_endpoints.get(endpoint_id) is None:
            raise not_found("GatewayEndpoint", endpoint_id=endpoint_id)

    def create_budget_policy(
        self,
        budget_unit: BudgetUnit,
        budget_amount: float,
        duration: BudgetDuration,
        target_scope: BudgetTargetScope,
        budget_action: BudgetAction,
        created_by: str | None = None,
        target_value: str | None = None,
    ) -> GatewayBudgetPolicy:
        scope = _value(target_scope)
        target_value = _normalize_budget_target_value(scope, target_value)
        if scope == BudgetTargetScope.ENDPOINT.value:
            self._require_endpoint(target_value)
        now = get_current_time_millis()
        item = self.ai_budgets.put(
            {
                "budget_policy_id": f"bp-{uuid.uuid4().hex}",
                "budget_unit": _value(budget_unit),
                "budget_amount": Decimal(str(float(budget_amount))),
                "duration_unit": duration.unit.value,
                "duration_value": int(duration.value),
                "target_scope": scope,
                "budget_action": _value(budget_action),
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
                "target_value": target_value,
            },
            new=True,
        )
        return _policy(item)

    def get_budget_policy(self, budget_policy_id: str) -> GatewayBudgetPolicy:
        item = self.ai_budgets.get(budget_policy_id)
        if item is None:
            raise _missing(budget_policy_id)
        return _policy(item)

    def update_budget_policy(
        self,
        budget_policy_id: str,
        budget_unit: BudgetUnit | None = None,
        budget_amount: float | None = None,
        duration: BudgetDuration | None = None,
        target_scope: BudgetTargetScope | None = None,
        budget_action: BudgetAction | None = None,
        updated_by: str | None = None,
        target_value: str | None = None,
    ) -> GatewayBudgetPolicy:
        current = self.ai_budgets.get(budget_policy_id)
        if current is None:
            raise _missing(budget_policy_id)
        item = {k: v for k, v in current.items() if k not in ("PK", "SK", "workspace")}
        if budget_unit is not None:
            item["budget_unit"] = _value(budget_unit)
        if budget_amount is not None:
            item["budget_amount"] = Decimal(str(float(budget_amount)))
        if duration is not None:
            item["duration_unit"] = duration.unit.value
            item["duration_value"] = int(duration.value)
        if target_scope is not None:
            scope = _value(target_scope)
            # a target belongs to its scope: switching scope drops it (as SQL)
            if scope != item["target_scope"]:
                item["target_value"] = None
            item["target_scope"] = scope
        if budget_action is not None:
            item["budget_action"] = _value(budget_action)
        if target_value is not None:
            item["target_value"] = target_value
        item["target_value"] = _normalize_budget_target_value(
            item["target_scope"], item.get("target_value")
        )
        if target_value is not None and item["target_scope"] == BudgetTargetScope.ENDPOINT.value:
            self._require_endpoint(item["target_value"])
        item["last_updated_at"] = get_current_time_millis()
        if updated_by is not None:
            item["last_updated_by"] = updated_by
        try:
            return _policy(self.ai_budgets.put(item, new=False))
        except Missing:
            raise _missing(budget_policy_id) from None

    def delete_budget_policy(self, budget_policy_id: str) -> None:
        try:
            self.ai_budgets.delete(budget_policy_id)
        except Missing:
            raise _missing(budget_policy_id) from None

    def list_budget_policies(
        self, max_results: int = SEARCH_MAX_RESULTS_DEFAULT, page_token: str | None = None
    ) -> PagedList[GatewayBudgetPolicy]:
        validate_max_results(max_results)
        offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        items = self.ai_budgets.list()
        token = (
            SearchUtils.create_page_token(offset + max_results)
            if len(items) > offset + max_results
            else None
        )
        return PagedList([_policy(i) for i in items[offset : offset + max_results]], token)
