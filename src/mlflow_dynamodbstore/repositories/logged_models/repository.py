"""Logged models: one partition per model (``LM#<model_id>``) holding its META item and its
metric rows; an experiment's models are listed through GSI4.

META carries the attributes of MLflow's ``logged_models`` row plus the model's ``tags`` and
``params`` as maps and its metric rows (``repositories/logged_models_metrics.py``: inline,
or items of the same partition once they outgrow META), so a search reads everything from
the GSI4 listing alone and ``get_logged_model`` is one Query of the partition.

Every change is one conditional request on META (conditioned on the workspace, so a model of
another workspace is "not found"); params, which must never change once logged, are added
under optimistic locking on META's ``version``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import islice
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage, LoggedModel, LoggedModelStatus

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.gateway import ConditionFailed, ItemTooLarge, TableGateway
from mlflow_dynamodbstore.gateway.errors import Contention
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic, version_of
from mlflow_dynamodbstore.gateway.paging import growing_walk
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.logged_models.metrics import rows_of, to_metric
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]
# Update expressions are limited to 4 KB: tags and params are written 50 keys at a time.
_KEYS_PER_UPDATE = 50


class LoggedModelMissing(Exception):
    """No such model in the workspace."""


class LoggedModelTagMissing(Exception):
    """delete_tag named a key the model does not have."""


class LoggedModelParamExists(Exception):
    """A param key was logged before (params are write-once, as the SQL primary key)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class LoggedModelTooLarge(Exception):
    """The META item would exceed DynamoDB's 400 KB item limit."""


@contextlib.contextmanager
def _item_size_errors() -> Iterator[None]:
    try:
        yield
    except ItemTooLarge:
        raise LoggedModelTooLarge() from None


def name_document(meta: Item) -> postings.Document:
    """The model's name in the trigram index: one posting list per experiment."""
    return postings.Document(
        str(meta.get("workspace", "")),
        postings.LOGGED_MODEL_NAME,
        str(meta["experiment_id"]),
        meta["model_id"],
    )


class LoggedModelRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- create and read -------------------------------------------------------------
    def create(self, item: Item) -> None:
        """One conditional PutItem of META (``item`` has the model's attributes, tags and
        params; keys are added here)."""
        meta = {
            **item,
            **keys.logged_model_key(item["model_id"]),
            **keys.logged_model_list_keys(
                item["experiment_id"],
                item["lifecycle_stage"],
                item["creation_timestamp_ms"],
                item["model_id"],
            ),
            "version": 1,
        }
        names = postings.created(name_document(meta), meta.get("name"))
        with _item_size_errors():
            if not names:
                self.gateway.put_item(meta, condition=Attr("PK").not_exists())
                return
            # the name's postings in the same transaction (model names never change)
            postings.transact_with_postings(
                self.gateway, [self.gateway.tx_put(meta, Attr("PK").not_exists())], names
            )

    def get_meta(self, model_id: str) -> Item:
        """META of a model of the workspace (one consistent GetItem), deleted or not."""
        item = self.gateway.get_item(keys.logged_model_key(model_id))
        if item is None:
            raise LoggedModelMissing(model_id)
        return item

    def get_partition(self, model_id: str) -> tuple[Item, list[Item]]:
        """(META, spilled metric rows) of a model: one consistent Query of its partition
        (more pages only when the model has over 1 MB of spilled metric rows)."""
        meta: Item | None = None
        metrics: list[Item] = []
        for item in self.gateway.query(
            Key("PK").eq(keys.logged_model_pk(model_id)), consistent=True
        ):
            if item["SK"] == keys.META:
                meta = item
            else:
                metrics.append(item)
        if meta is None:
            raise LoggedModelMissing(model_id)
        return meta, metrics

    def list_in_experiment(
        self,
        experiment_id: str,
        lifecycle_stage: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        first_page: int | None = None,
    ) -> Iterator[Item]:
        """META items of an experiment's models in one lifecycle stage, via GSI4 (newest
        first, then model id), lazily; ``limit`` caps the items per Query page and in all.
        ``after`` (a GSI4 sort key) starts right after that model; with ``first_page`` the
        first Query reads that many items and each next one twice as many (up to 1,000), so
        a caller that stops after its page pays for little more than it used."""
        listing = indexes.LOGGED_MODELS_BY_EXPERIMENT
        prefix = keys.logged_model_list_prefix(lifecycle_stage)
        pk = keys.logged_models_gsi4pk(experiment_id)
        if after is not None and after.startswith(prefix):
            # every key of the stage sorts below the prefix with its last character raised
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            condition = listing.key_condition(pk, lower=after, upper=upper)
        else:
            condition = listing.key_condition(pk, prefix=prefix)
        if first_page is None:
            items = self.gateway.query(condition, index=listing.index, limit=limit)
        else:
            items = self._growing_walk(condition, max(1, first_page))
        if after is not None:
            items = (i for i in items if listing.sort_key(i) != after)  # the cursor itself
        return islice(items, limit) if limit else items

    def _growing_walk(self, condition, first_page: int) -> Iterator[Item]:
        return growing_walk(
            self.gateway,
            condition,
            index=indexes.LOGGED_MODELS_BY_EXPERIMENT.index,
            first_page=first_page,
        )

    def delete_partition(self, model_id: str) -> None:
        """Remove the model for good (``mlflow gc``): 1 Query per MB of the partition +
        ⌈items / 25⌉ BatchWriteItem; META goes last so a retry after a crash finds it."""
        items = list(
            self.gateway.query(Key("PK").eq(keys.logged_model_pk(model_id)), consistent=True)
        )
        meta = next((item for item in items if item["SK"] == keys.META), None)
        if meta is None:
            raise LoggedModelMissing(model_id)
        names = postings.removed(name_document(meta), meta.get("name")).deletes
        rows = [{"PK": i["PK"], "SK": i["SK"]} for i in items if i["SK"] != keys.META]
        self.gateway.batch_write(deletes=[*rows, *names])
        self.gateway.delete_item(keys.logged_model_key(model_id))

    def get_metas(self, model_ids: set[str]) -> dict[str, Item]:
        """META of those of these models that exist (in the workspace, any stage), by id:
        ⌈n / 100⌉ consistent BatchGetItem."""
        found = self.gateway.batch_get(
            (keys.logged_model_key(m) for m in model_ids), consistent=True
        )
        return {item["model_id"]: item for item in found}

    # ---- updates of META -------------------------------------------------------------
    def update(self, model_id: str, workspace: str, values: Item) -> Item:
        """SET attributes of META; returns the new META."""
        expression, names, placeholders = set_expression(values)
        try:
            new = self.gateway.update_item(
                keys.logged_model_key(model_id),
                expression,
                names=names,
                values=placeholders,
                condition=Attr("workspace").eq(workspace),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise LoggedModelMissing(model_id) from None
        assert new is not None
        return new

    def set_lifecycle(self, model_id: str, workspace: str, stage: str, now: int) -> None:
        """Move the model to ``stage``; its GSI4 sort key moves to that stage's prefix."""
        meta = self.get_meta(model_id)
        listing = indexes.LOGGED_MODELS_BY_EXPERIMENT
        list_keys = keys.logged_model_list_keys(
            meta["experiment_id"], stage, int(meta["creation_timestamp_ms"]), model_id
        )
        self.update(
            model_id,
            workspace,
            {
                "lifecycle_stage": stage,
                "last_updated_timestamp_ms": now,
                listing.sk: listing.sort_key(list_keys),
            },
        )

    def set_tags(self, model_id: str, workspace: str, tags: dict[str, str]) -> None:
        """Upsert tags into META's map: one UpdateItem per 50 tags."""
        pairs = list(tags.items())
        if not pairs:
            self.get_meta(model_id)  # the SQL store still checks the model exists
            return
        for start in range(0, len(pairs), _KEYS_PER_UPDATE):
            chunk = pairs[start : start + _KEYS_PER_UPDATE]
            names = {"#u_tags": "tags", **{f"#u_k{i}": k for i, (k, _) in enumerate(chunk)}}
            values = {f":u_v{i}": v for i, (_, v) in enumerate(chunk)}
            expression = "SET " + ", ".join(f"#u_tags.#u_k{i} = :u_v{i}" for i in range(len(chunk)))
            try:
                with _item_size_errors():
                    self.gateway.update_item(
                        keys.logged_model_key(model_id),
                        expression,
                        names=names,
                        values=values,
                        condition=Attr("workspace").eq(workspace),
                    )
            except ConditionFailed:
                raise LoggedModelMissing(model_id) from None

    def delete_tag(self, model_id: str, workspace: str, key: str) -> None:
        """One UpdateItem; the old value (UPDATED_OLD) tells whether the key was there."""
        try:
            old = self.gateway.update_item(
                keys.logged_model_key(model_id),
                "REMOVE #u_tags.#u_key",
                names={"#u_tags": "tags", "#u_key": key},
                condition=Attr("workspace").eq(workspace),
                return_values="UPDATED_OLD",
            )
        except ConditionFailed:
            raise LoggedModelMissing(model_id) from None
        if key not in ((old or {}).get("tags") or {}):
            raise LoggedModelTagMissing(key)

    def add_params(self, model_id: str, workspace: str, params: dict[str, str]) -> None:
        """Add params the model does not have yet (LoggedModelParamExists otherwise): per 50
        params, read META, then one UpdateItem conditioned on the ``version`` read (a lost
        race re-reads)."""
        if not params:
            self.get_meta(model_id)
            return
        pairs = list(params.items())
        for start in range(0, len(pairs), _KEYS_PER_UPDATE):
            self._add_params_chunk(
                model_id, workspace, dict(pairs[start : start + _KEYS_PER_UPDATE])
            )

    def _add_params_chunk(self, model_id: str, workspace: str, params: dict[str, str]) -> None:
        def read(_lost: Lost | None) -> Item:
            return self.get_meta(model_id)

        def write(meta: Item) -> None:
            for key in params:
                if key in (meta.get("params") or {}):
                    raise LoggedModelParamExists(key)
            names = {"#u_params": "params", "#u_version": "version"}
            values: Item = {":u_one": 1}
            sets = []
            for i, (key, value) in enumerate(params.items()):
                names[f"#u_k{i}"] = key
                values[f":u_v{i}"] = value
                sets.append(f"#u_params.#u_k{i} = :u_v{i}")
            with _item_size_errors():
                self.gateway.update_item(
                    keys.logged_model_key(model_id),
                    f"SET {', '.join(sets)} ADD #u_version :u_one",
                    names=names,
                    values=values,
                    condition=version_of(meta).condition,
                )

        try:
            optimistic(read, write, what=f"logged model {model_id}")
        except Contention:
            # As before the shared helper: a key that kept being raced for is reported as
            # taken (the SQL store's primary key violation).
            raise LoggedModelParamExists(next(iter(params))) from None


def is_active(meta: Item) -> bool:
    return meta.get("lifecycle_stage") == LifecycleStage.ACTIVE


def to_logged_model(meta: Item, spilled_rows: list[Item] | None) -> LoggedModel:
    """The entity as SqlLoggedModel.to_mlflow_entity builds it: empty tags/params/metrics
    are None. Metrics (inline on META, plus spilled rows) come in key order (name,
    timestamp, step, run)."""
    metrics = [to_metric(r, meta["model_id"]) for r in rows_of(meta, spilled_rows)]
    return LoggedModel(
        model_id=meta["model_id"],
        experiment_id=str(meta["experiment_id"]),
        name=meta["name"],
        artifact_location=meta["artifact_location"],
        creation_timestamp=int(meta["creation_timestamp_ms"]),
        last_updated_timestamp=int(meta["last_updated_timestamp_ms"]),
        status=LoggedModelStatus.from_int(int(meta["status"])),
        model_type=meta.get("model_type"),
        source_run_id=meta.get("source_run_id"),
        status_message=meta.get("status_message"),
        tags=dict(meta.get("tags") or {}) or None,
        params=dict(meta.get("params") or {}) or None,
        metrics=metrics or None,
    )
