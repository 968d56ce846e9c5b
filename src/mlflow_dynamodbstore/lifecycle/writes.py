"""A gateway seen by the lifecycle jobs: reads pass through, deletes and rewrites are
counted, and performed only when not a dry run (so ``--dry-run`` walks exactly what the
real run would and reports the same counts, changing nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway

Item = dict[str, Any]


class CountingGateway:
    def __init__(self, gateway: TableGateway, *, dry_run: bool):
        self.unscoped = gateway
        self.dry_run = dry_run
        self.deleted = 0  # items deleted (or that a dry run would delete)
        self.rewritten = 0  # items updated or put

    def __getattr__(self, name: str) -> Any:
        # query, query_page, get_item, batch_get, tx_* builders: unchanged
        return getattr(self.unscoped, name)

    def batch_write(self, puts: Iterable[Item] = (), deletes: Iterable[Item] = ()) -> None:
        puts, deletes = list(puts), list(deletes)
        self.rewritten += len(puts)
        self.deleted += len(deletes)
        if not self.dry_run and (puts or deletes):
            self.unscoped.batch_write(puts=puts, deletes=deletes)

    def delete_item(self, key: Item, **kwargs: Any) -> Item | None:
        old = None if self.dry_run else self.unscoped.delete_item(key, **kwargs)
        self.deleted += 1  # after it: a failed condition deleted nothing
        return old

    def put_item(self, item: Item, **kwargs: Any) -> None:
        if not self.dry_run:
            self.unscoped.put_item(item, **kwargs)
        self.rewritten += 1

    def update_item(self, key: Item, update_expression: str, **kwargs: Any) -> Item | None:
        new = None if self.dry_run else self.unscoped.update_item(key, update_expression, **kwargs)
        self.rewritten += 1
        return new

    def transact_write(self, actions: Sequence[dict], **kwargs: Any) -> None:
        self.deleted += sum(1 for a in actions if "Delete" in a)
        self.rewritten += sum(1 for a in actions if "Put" in a or "Update" in a)
        if not self.dry_run:
            self.unscoped.transact_write(actions, **kwargs)
