"""A tag write that carries its value's trigram postings (fts/field_postings.py), for
entities whose tags are a map on META updated in place (experiments, registered models).

Moving the postings needs the old value, so the write reads META, then updates it
*conditioned on the value read* (still absent, or still equal) in one TransactWriteItems
with the posting change (and any ``extra`` actions, e.g. a tag index entry). A concurrent
change of the same tag fails the condition: re-read and retry (``optimistic``), so the
postings always match the value that won.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.postings import Document, transact_with_postings
from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic

Item = dict[str, Any]
REMOVE = object()  # the value of a tag deletion


class TagAbsent(Exception):
    """A deletion (``must_exist``) named a key the entity does not have."""


@dataclass
class TagValueWrite:
    """One tag change of one entity. ``read`` returns META (raising the caller's own
    not-found errors); ``guard`` is a condition over META besides the tag's value, with its
    own ``#u_``/``:u_`` placeholders; ``document`` is the posting document of a tag key."""

    gateway: TableGateway
    meta_key: Item
    read: Callable[[Lost | None], Item]
    document: Callable[[str], Document]
    what: str
    guard: str | None = None
    guard_names: dict[str, str] = field(default_factory=dict)
    guard_values: dict[str, Any] = field(default_factory=dict)

    def write(self, key: str, value: Any, extra: list[dict], must_exist: bool = False) -> Item:
        """SET (or, with ``REMOVE``, remove) the tag; returns META as read."""

        def write(meta: Item) -> Item:
            tags = meta.get("tags") or {}
            if must_exist and key not in tags:
                raise TagAbsent(key)
            names = {"#u_tags": "tags", "#u_key": key, **self.guard_names}
            values: dict[str, Any] = dict(self.guard_values)
            condition = _value_condition(tags, key, values)
            if self.guard:
                condition = f"{self.guard} AND {condition}"
            if value is REMOVE:
                expression = "REMOVE #u_tags.#u_key"
                new = None
            else:
                expression, new = "SET #u_tags.#u_key = :u_value", value
                values[":u_value"] = value
            update = self.gateway.tx_update(
                self.meta_key,
                expression,
                names=names,
                values=values,
                condition_expression=condition,
            )
            change = field_postings.value_moved(self.document(key), tags.get(key), new)
            try:
                transact_with_postings(self.gateway, [update, *extra], change)
            except TransactionCancelled as exc:
                if exc.is_condition_failure:
                    raise Conflict() from None  # changed meanwhile: read it again
                raise
            return meta

        return optimistic(self.read, write, what=self.what)


def _value_condition(tags: dict[str, Any], key: str, values: dict[str, Any]) -> str:
    """The tag still holds what was read (or is still absent)."""
    if key not in tags:
        return "attribute_not_exists(#u_tags.#u_key)"
    if tags[key] is None:
        values[":u_null"] = "NULL"
        return "attribute_type(#u_tags.#u_key, :u_null)"
    values[":u_old"] = tags[key]
    return "#u_tags.#u_key = :u_old"
