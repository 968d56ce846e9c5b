"""Gateway endpoints with their attached model definitions (mappings) and tags.

An endpoint's items share one sort-key prefix in the workspace's endpoints partition, so
one Query reads it whole. Each attach/detach is one transaction with the model
definition's ``attached`` count (see model_definitions.py); deleting an endpoint deletes
its mappings the same way (the SQL store's ON DELETE CASCADE), then its tags.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    AlreadyAttached,
    Item,
    Missing,
    NameTaken,
    WorkspaceRepository,
    by_creation,
    compact,
    exists,
    not_exists,
    partition,
)
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class ModelDefinitionGone(Exception):
    """A model definition to attach does not exist (any more)."""


class Endpoint:
    """An endpoint item with its mappings (in creation order) and tags."""

    def __init__(self, item: Item, mappings: list[Item], tags: list[Item], guardrails: list[Item]):
        self.item = item
        self.mappings = by_creation(mappings)
        self.tags = tags
        self.guardrails = guardrails


def _group(items: list[Item]) -> list[Endpoint]:
    endpoints: dict[str, Item] = {}
    mappings: dict[str, list[Item]] = defaultdict(list)
    tags: dict[str, list[Item]] = defaultdict(list)
    guardrails: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        kind = ak.item_kind(item["SK"])
        if kind == "endpoint":
            endpoints[item["endpoint_id"]] = item
        elif kind == "mapping":
            mappings[item["endpoint_id"]].append(item)
        elif kind == "tag":
            tags[item["endpoint_id"]].append(item)
        elif kind == "guardrail":
            guardrails[item["endpoint_id"]].append(item)
    return [
        Endpoint(item, mappings[eid], tags[eid], guardrails[eid]) for eid, item in endpoints.items()
    ]


def _attach_counts(gateway, ws: str, deltas: Counter) -> list[dict]:
    """One update per model definition: ``attached`` += delta, the definition must exist."""
    return [
        gateway.tx_update(
            ak.model_definition_key(ws, mdid),
            "ADD #u_a :u_a",
            names={"#u_a": "attached"},
            values={":u_a": delta},
            condition=exists(),
        )
        for mdid, delta in deltas.items()
        if delta
    ]


class EndpointRepository(WorkspaceRepository):
    # ---- reads -------------------------------------------------------------------------
    def get(self, endpoint_id: str) -> Endpoint | None:
        if not ak.plausible_id(endpoint_id):
            return None
        condition = partition(ak.endpoints_pk(self.workspace), ak.endpoint_prefix(endpoint_id))
        found = _group(list(self.gateway.query(condition, consistent=True)))
        return next((e for e in found if e.item["endpoint_id"] == endpoint_id), None)

    def get_by_name(self, name: str) -> Endpoint | None:
        guard = self.gateway.get_item(ak.endpoint_name_key(self.workspace, name))
        return self.get(guard["endpoint_id"]) if guard else None

    def list(self) -> list[Endpoint]:
        condition = partition(ak.endpoints_pk(self.workspace), ak.ENDPOINT_PREFIX)
        endpoints = _group(list(self.gateway.query(condition, consistent=True)))
        order = {id(item): i for i, item in enumerate(by_creation([e.item for e in endpoints]))}
        return sorted(endpoints, key=lambda e: order[id(e.item)])

    # ---- endpoint writes ---------------------------------------------------------------
    def _mapping_item(
        self, endpoint_id: str, config: Any, created_by: str | None, now: int, position: int
    ) -> Item:
        ws = self.workspace
        linkage = config.linkage_type.value
        return compact(
            {
                **ak.mapping_key(ws, endpoint_id, linkage, config.model_definition_id),
                "mapping_id": f"m-{uuid.uuid4().hex}",
                "endpoint_id": endpoint_id,
                "model_definition_id": config.model_definition_id,
                "weight": Decimal(str(float(config.weight))),
                "linkage_type": linkage,
                "fallback_order": config.fallback_order,
                "created_at": now,
                "created_by": created_by,
                "position": position,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )

    def create(
        self,
        *,
        endpoint_id: str,
        name: str,
        fields: Item,
        model_configs: list[Any],
        created_by: str | None,
        now: int,
    ) -> None:
        ws = self.workspace
        item = compact(
            {
                **ak.endpoint_key(ws, endpoint_id),
                "endpoint_id": endpoint_id,
                "name": name,
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
                **fields,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        guard = {**ak.endpoint_name_key(ws, name), "endpoint_id": endpoint_id, "name": name}
        mappings = [
            self._mapping_item(endpoint_id, c, created_by, now, i)
            for i, c in enumerate(model_configs)
        ]
        if len({m["SK"] for m in mappings}) < len(mappings):
            raise AlreadyAttached(endpoint_id)
        actions = [
            self.gateway.tx_put(item, not_exists()),
            self.gateway.tx_put(guard, not_exists()),
        ]
        actions += [self.gateway.tx_put(m, not_exists()) for m in mappings]
        deltas = Counter(c.model_definition_id for c in model_configs)
        actions += _attach_counts(self.gateway, ws, deltas)
        self._write(actions, name_index=1, first_count=2 + len(mappings))

    def _write(self, actions: list[dict], *, name_index: int | None, first_count: int) -> None:
        try:
            self.gateway.transact_write(actions)
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if any(i >= first_count for i in failed):
                raise ModelDefinitionGone() from None
            if name_index is not None and name_index in failed:
                raise NameTaken() from None
            if 0 in failed:
                raise Missing() from None
            if failed:
                raise AlreadyAttached() from None
            raise

    def update(
        self,
        current: Endpoint,
        *,
        fields: Item,
        remove: list[str],
        new_name: str | None,
        model_configs: list[Any] | None,
        updated_by: str | None,
        now: int,
    ) -> None:
        ws = self.workspace
        endpoint_id = current.item["endpoint_id"]
        fields = {**fields, "last_updated_at": now}
        expression, names, values = set_expression(fields)
        if remove:
            names.update({f"#u_r{i}": n for i, n in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#u_r{i}" for i in range(len(remove)))
        actions = [
            self.gateway.tx_update(
                ak.endpoint_key(ws, endpoint_id),
                expression,
                names=names,
                values=values,
                condition=exists(),
            )
        ]
        name_index = None
        if new_name is not None and new_name != current.item.get("name"):
            if current.item.get("name") is not None:
                actions.append(
                    self.gateway.tx_delete(ak.endpoint_name_key(ws, current.item["name"]))
                )
            name_index = len(actions)
            actions.append(
                self.gateway.tx_put(
                    {
                        **ak.endpoint_name_key(ws, new_name),
                        "endpoint_id": endpoint_id,
                        "name": new_name,
                    },
                    not_exists(),
                )
            )
        first_count = len(actions)
        if model_configs is not None:
            new = [
                self._mapping_item(endpoint_id, c, updated_by, now, i)
                for i, c in enumerate(model_configs)
            ]
            new_keys = {m["SK"] for m in new}
            if len(new_keys) < len(new):
                raise AlreadyAttached(endpoint_id)
            deltas: Counter = Counter(c.model_definition_id for c in model_configs)
            deltas.subtract(Counter(m["model_definition_id"] for m in current.mappings))
            # a key in both lists is one Put (replacing it); only vanished ones are deleted
            actions += [
                self.gateway.tx_delete({"PK": m["PK"], "SK": m["SK"]})
                for m in current.mappings
                if m["SK"] not in new_keys
            ]
            actions += [self.gateway.tx_put(m) for m in new]
            first_count = len(actions)
            actions += _attach_counts(self.gateway, ws, deltas)
        self._write(actions, name_index=name_index, first_count=first_count)

    def delete(self, current: Endpoint) -> None:
        """The endpoint, its name guard and mappings (with the definitions' counts) in
        transactions, then its tags in batches."""
        ws = self.workspace
        item = current.item
        first = [self.gateway.tx_delete(ak.endpoint_key(ws, item["endpoint_id"]), exists())]
        if item.get("name") is not None:
            first.append(self.gateway.tx_delete(ak.endpoint_name_key(ws, item["name"])))
        self._delete_mappings(current.mappings, first)
        rest = current.tags + current.guardrails
        self.gateway.batch_write(deletes=[{"PK": t["PK"], "SK": t["SK"]} for t in rest])

    def _delete_mappings(self, mappings: list[Item], first: list[dict]) -> None:
        ws = self.workspace
        pending = list(mappings)
        actions = first
        while True:
            room = (TRANSACTION_LIMIT - len(actions)) // 2
            chunk, pending = pending[:room], pending[room:]
            actions = actions + [
                self.gateway.tx_delete({"PK": m["PK"], "SK": m["SK"]}) for m in chunk
            ]
            deltas: Counter = Counter()
            for m in chunk:
                deltas[m["model_definition_id"]] -= 1
            actions += _attach_counts(self.gateway, ws, deltas)
            try:
                self.gateway.transact_write(actions)
            except TransactionCancelled as exc:
                if exc.is_condition_failure:
                    raise Missing() from None
                raise
            if not pending:
                return
            actions = []

    # ---- model attachments -------------------------------------------------------------
    def attach(self, endpoint_id: str, config: Any, created_by: str | None, now: int) -> Item:
        ws = self.workspace
        mapping = self._mapping_item(endpoint_id, config, created_by, now, 0)
        fields: Item = {"last_updated_at": now}
        if created_by:
            fields["last_updated_by"] = created_by
        expression, names, values = set_expression(fields)
        actions = [
            self.gateway.tx_update(
                ak.endpoint_key(ws, endpoint_id),
                expression,
                names=names,
                values=values,
                condition=exists(),
            ),
            self.gateway.tx_put(mapping, not_exists()),
            *_attach_counts(self.gateway, ws, Counter([config.model_definition_id])),
        ]
        self._write(actions, name_index=None, first_count=2)
        return mapping

    def detach(self, endpoint_id: str, model_definition_id: str, linkage_type: str | None) -> None:
        """Remove the first matching mapping (the SQL store deletes ``first()``)."""
        current = self.get(endpoint_id)
        if current is None:
            raise Missing(endpoint_id)
        matches = [
            m
            for m in current.mappings
            if m["model_definition_id"] == model_definition_id
            and (not linkage_type or m["linkage_type"] == linkage_type)
        ]
        if not matches:
            raise AlreadyAttached()  # the caller words "not attached"
        mapping = matches[0]
        ws = self.workspace
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete({"PK": mapping["PK"], "SK": mapping["SK"]}, exists()),
                    *_attach_counts(self.gateway, ws, Counter({model_definition_id: -1})),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise AlreadyAttached() from None
            raise

    # ---- tags --------------------------------------------------------------------------
    def set_tag(self, endpoint_id: str, key: str, value: str | None) -> None:
        ws = self.workspace
        tag = compact(
            {
                **ak.endpoint_tag_key(ws, endpoint_id, key),
                "endpoint_id": endpoint_id,
                "key": key,
                "value": value,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        self._with_endpoint(endpoint_id, self.gateway.tx_put(tag))

    def delete_tag(self, endpoint_id: str, key: str) -> None:
        ws = self.workspace
        self._with_endpoint(
            endpoint_id, self.gateway.tx_delete(ak.endpoint_tag_key(ws, endpoint_id, key))
        )

    def _with_endpoint(self, endpoint_id: str, action: dict) -> None:
        if not ak.plausible_id(endpoint_id):
            raise Missing(endpoint_id)
        check = self.gateway.tx_check(ak.endpoint_key(self.workspace, endpoint_id), exists())
        try:
            self.gateway.transact_write([check, action])
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(endpoint_id) from None
            raise
