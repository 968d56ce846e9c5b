"""Gateway budget policies: one item each in the workspace's budgets partition."""

from __future__ import annotations

from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    Item,
    Missing,
    WorkspaceRepository,
    compact,
    exists,
    not_exists,
    partition,
)
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class BudgetRepository(WorkspaceRepository):
    def get(self, budget_policy_id: str) -> Item | None:
        return self._item(ak.budget_key, budget_policy_id)

    def list(self) -> list[Item]:
        condition = partition(ak.budgets_pk(self.workspace), ak.ID_PREFIX)
        return list(self.gateway.query(condition, consistent=True))

    def put(self, fields: Item, *, new: bool) -> Item:
        """Write the whole policy: a new one (the id must be free) or a replacement of one
        that still exists (an update is last-writer-wins, as SQL's row update)."""
        ws = self.workspace
        item = compact(
            {**ak.budget_key(ws, fields["budget_policy_id"]), **fields, WORKSPACE_ATTRIBUTE: ws}
        )
        try:
            self.gateway.put_item(item, condition=not_exists() if new else exists())
        except ConditionFailed:
            raise Missing(fields["budget_policy_id"]) from None
        return item

    def delete(self, budget_policy_id: str) -> None:
        if not ak.plausible_id(budget_policy_id):
            raise Missing(budget_policy_id)
        try:
            self.gateway.delete_item(
                ak.budget_key(self.workspace, budget_policy_id), condition=exists()
            )
        except ConditionFailed:
            raise Missing(budget_policy_id) from None
