"""A gateway seen through one owner scope (for this package: the request's workspace).

Items that belong to a scope carry an owner attribute (``workspace``). Through a
``ScopedGateway`` an item whose owner is another scope does not exist: reads drop it,
and every conditional write gains ``attribute_not_exists(owner) OR owner = :scope``, so
a write can neither change nor replace another scope's item. Items without the attribute
(name guards, counters, metric points: their keys already derive from a checked parent
or contain the scope) pass through. Repositories built on a scoped gateway are isolated
by construction: a new code path cannot forget the check.

The condition costs nothing (DynamoDB charges conditions no capacity) and adds no
request. BatchWriteItem takes no conditions: its puts are checked here (they must be of
this scope or of none); its deletes remove items a scoped read returned first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase

from mlflow_dynamodbstore.gateway.errors import ConditionFailed, GatewayError
from mlflow_dynamodbstore.gateway.table_gateway import Item, TableGateway

# Placeholders of the scope condition in raw condition expressions (tx_update).
_NAME = "#scope_owner"
_VALUE = ":scope_owner"


class ScopeViolation(GatewayError):
    """A write would put an item of another scope: a programming error, never user input."""


class ScopedGateway:
    """``TableGateway``'s interface, limited to one scope resolved at each call.

    ``scope`` is a callable so one instance serves every request of a store: the store
    passes its active-workspace lookup, which reads the request's context.
    """

    def __init__(self, gateway: TableGateway, owner_attribute: str, scope: Callable[[], str]):
        self.unscoped = gateway
        self.owner_attribute = owner_attribute
        self._scope = scope

    def __getattr__(self, name: str) -> Any:
        # Marshalling, stats, backoff and transact_write need no scope of their own.
        return getattr(self.unscoped, name)

    @property
    def scope(self) -> str:
        return self._scope()

    # ---- reads -------------------------------------------------------------------
    def visible(self, item: Item | None, scope: str | None = None) -> bool:
        if item is None:
            return False
        owner = item.get(self.owner_attribute)
        return owner is None or owner == (scope if scope is not None else self.scope)

    def _only_visible(self, items: Iterable[Item]) -> list[Item]:
        scope = self.scope
        return [i for i in items if self.visible(i, scope)]

    def get_item(self, key: Item, *, consistent: bool = True) -> Item | None:
        item = self.unscoped.get_item(key, consistent=consistent)
        return item if self.visible(item) else None

    def query_page(self, key_condition: ConditionBase, **kwargs: Any):
        items, last = self.unscoped.query_page(key_condition, **kwargs)
        return self._only_visible(items), last

    def query(self, key_condition: ConditionBase, **kwargs: Any) -> Iterator[Item]:
        scope = self.scope
        for item in self.unscoped.query(key_condition, **kwargs):
            if self.visible(item, scope):
                yield item

    def batch_get(self, keys: Iterable[Item], *, consistent: bool = False) -> list[Item]:
        return self._only_visible(self.unscoped.batch_get(keys, consistent=consistent))

    # ---- writes ------------------------------------------------------------------
    def _condition(self, condition: ConditionBase | None) -> ConditionBase:
        owner = Attr(self.owner_attribute)
        mine = owner.not_exists() | owner.eq(self.scope)
        return mine if condition is None else condition & mine

    def _check_put(self, item: Item) -> None:
        owner = item.get(self.owner_attribute)
        if owner is not None and owner != self.scope:
            raise ScopeViolation(f"an item of scope {owner!r} written through scope {self.scope!r}")

    def _hide_foreign(self, exc: ConditionFailed) -> ConditionFailed:
        """The item DynamoDB returns with a failed condition is only shown in its scope."""
        if exc.item is not None and not self.visible(exc.item):
            return ConditionFailed(str(exc), item=None)
        return exc

    def put_item(self, item: Item, *, condition: ConditionBase | None = None) -> None:
        self._check_put(item)
        try:
            self.unscoped.put_item(item, condition=self._condition(condition))
        except ConditionFailed as exc:
            raise self._hide_foreign(exc) from None

    def update_item(self, key: Item, update_expression: str, **kwargs: Any) -> Item | None:
        if kwargs.get("condition_expression") is None:
            kwargs["condition"] = self._condition(kwargs.get("condition"))
        else:
            expression, names, values = self._scoped_expression(
                kwargs["condition_expression"], kwargs.get("names"), kwargs.get("values")
            )
            kwargs.update(condition_expression=expression, names=names, values=values)
        try:
            return self.unscoped.update_item(key, update_expression, **kwargs)
        except ConditionFailed as exc:
            raise self._hide_foreign(exc) from None

    def delete_item(self, key: Item, **kwargs: Any) -> Item | None:
        kwargs["condition"] = self._condition(kwargs.get("condition"))
        return self.unscoped.delete_item(key, **kwargs)

    def batch_write(self, puts: Iterable[Item] = (), deletes: Iterable[Item] = ()) -> None:
        puts = list(puts)
        for item in puts:
            self._check_put(item)
        self.unscoped.batch_write(puts=puts, deletes=deletes)

    # ---- transaction actions -----------------------------------------------------
    def tx_put(self, item: Item, condition: ConditionBase | None = None) -> dict:
        self._check_put(item)
        return self.unscoped.tx_put(item, self._condition(condition))

    def tx_update(
        self,
        key: Item,
        update_expression: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: ConditionBase | None = None,
        condition_expression: str | None = None,
    ) -> dict:
        if condition_expression is None:
            return self.unscoped.tx_update(
                key,
                update_expression,
                names=names,
                values=values,
                condition=self._condition(condition),
            )
        scoped, names, values = self._scoped_expression(condition_expression, names, values)
        return self.unscoped.tx_update(
            key,
            update_expression,
            names=names,
            values=values,
            condition=condition,
            condition_expression=scoped,
        )

    def _scoped_expression(
        self,
        condition_expression: str,
        names: dict[str, str] | None,
        values: dict[str, Any] | None,
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """A raw expression over an update's own placeholders, with the scope added the
        same way as to built conditions."""
        return (
            f"({condition_expression}) AND (attribute_not_exists({_NAME}) OR {_NAME} = {_VALUE})",
            {**(names or {}), _NAME: self.owner_attribute},
            {**(values or {}), _VALUE: self.scope},
        )

    def tx_delete(self, key: Item, condition: ConditionBase | None = None) -> dict:
        return self.unscoped.tx_delete(key, self._condition(condition))

    def tx_check(self, key: Item, condition: ConditionBase) -> dict:
        return self.unscoped.tx_check(key, self._condition(condition))
