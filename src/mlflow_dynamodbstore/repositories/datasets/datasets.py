"""The dataset's META item and its experiment links (``EDS#<id>`` partition).

META is listed per workspace (DATASETS_BY_CREATION, GSI1) and each link per experiment
(DATASETS_BY_EXPERIMENT, GSI2). META changes are UpdateItems of the attributes they change:
``num_records`` moves only by ``ADD`` inside the record transactions (records.py), so no
write here may put META back whole. A delete first marks META ``deleting`` and takes it out
of the listing, then removes the partition's other items, META last: an interrupted delete
is finished by the next one, and a dataset being deleted reads as missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic, version_of
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.datasets.codec import addressable, tag_map_key
from mlflow_dynamodbstore.schema import dataset_keys, indexes, keys
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE

# Largest Limit of a growing listing read (items of a few hundred bytes: well under 1 MB).
_MAX_PAGE = 1000
# Map keys per UpdateItem of tags (the expression stays far below DynamoDB's 4 KB).
_TAGS_PER_UPDATE = 100


class DatasetMissing(Exception):
    """The dataset does not exist in this workspace (or is being deleted)."""


def live() -> ConditionBase:
    """META exists and is not being deleted."""
    return Attr("PK").exists() & Attr("deleting").not_exists()


def is_live(item: dict[str, Any] | None) -> bool:
    return item is not None and not item.get("deleting")


class DatasetRepository:
    def __init__(self, gateway: ScopedGateway):
        self.gateway = gateway

    # ---- META ----------------------------------------------------------------------
    def create(self, item: dict[str, Any], experiment_ids: list[str], now: int) -> None:
        """META and its links in one transaction (beyond 99 links, the rest follow it)."""
        links = [self._link_item(item, exp, now) for exp in dict.fromkeys(experiment_ids)]
        first, rest = links[: TRANSACTION_LIMIT - 1], links[TRANSACTION_LIMIT - 1 :]
        self.gateway.transact_write(
            [self.gateway.tx_put(item, Attr("PK").not_exists())]
            + [self.gateway.tx_put(link) for link in first]
        )
        if rest:
            self.gateway.batch_write(puts=rest)

    def get(self, dataset_id: str, *, consistent: bool = True) -> dict[str, Any] | None:
        if not addressable(dataset_id):
            return None
        item = self.gateway.get_item(dataset_keys.dataset_key(dataset_id), consistent=consistent)
        return item if is_live(item) else None

    def require(self, dataset_id: str) -> dict[str, Any]:
        item = self.get(dataset_id)
        if item is None:
            raise DatasetMissing(dataset_id)
        return item

    def get_many(self, dataset_ids: Iterable[str]) -> list[dict[str, Any]]:
        keys_ = [dataset_keys.dataset_key(d) for d in dataset_ids if addressable(d)]
        found = self.gateway.batch_get(keys_)
        return [item for item in found if is_live(item)]

    def update(
        self,
        dataset_id: str,
        fields: dict[str, Any],
        *,
        remove: Iterable[str] = (),
        condition: ConditionBase | None = None,
    ) -> dict[str, Any]:
        """SET ``fields`` (and REMOVE ``remove``) on a live META; the new item.
        DatasetMissing if there is none; a failed extra ``condition`` raises ConditionFailed
        (the caller's race)."""
        expression, names, values = set_expression({**fields})
        removed = list(remove)
        if removed:
            names.update({f"#u_r{i}": name for i, name in enumerate(removed)})
            expression += " REMOVE " + ", ".join(f"#u_r{i}" for i in range(len(removed)))
        full = live() if condition is None else live() & condition
        try:
            updated = self.gateway.update_item(
                dataset_keys.dataset_key(dataset_id),
                expression,
                names=names,
                values=values,
                condition=full,
                return_values="ALL_NEW",
            )
        except ConditionFailed as exc:
            if not is_live(exc.item):
                raise DatasetMissing(dataset_id) from None
            raise
        return updated or {}

    def update_versioned(
        self,
        dataset_id: str,
        meta: dict[str, Any],
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]],
    ) -> dict[str, Any]:
        """Apply ``change(meta) -> (fields to SET, attributes to REMOVE)`` conditioned on
        the ``version`` read, re-reading META after a lost race (the optimistic loop);
        Contention after every attempt lost, DatasetMissing if the dataset goes."""

        def read(lost: Lost | None) -> dict[str, Any]:
            if lost is None:
                return meta
            if is_live(lost.item):
                return lost.item  # DynamoDB returned the winner's META
            return self.require(dataset_id)

        def write(current: dict[str, Any]) -> dict[str, Any]:
            fields, remove = change(current)
            version = version_of(current)
            return self.update(
                dataset_id,
                {**fields, "version": version.next},
                remove=remove,
                condition=version.condition,
            )

        return optimistic(read, write, what=f"update of evaluation dataset {dataset_id}")

    def set_tags(self, dataset_id: str, tags: dict[str, str]) -> None:
        """SET ``tags.<key>`` per tag, no read (DatasetMissing if there is no dataset)."""
        pairs = [(tag_map_key(k), v) for k, v in tags.items()]
        if not pairs or not addressable(dataset_id):
            self.require(dataset_id)
            return
        for start in range(0, len(pairs), _TAGS_PER_UPDATE):
            chunk = pairs[start : start + _TAGS_PER_UPDATE]
            names = {"#u_t": "tags"} | {f"#u_k{i}": k for i, (k, _) in enumerate(chunk)}
            values = {f":u_v{i}": v for i, (_, v) in enumerate(chunk)}
            expression = "SET " + ", ".join(f"#u_t.#u_k{i} = :u_v{i}" for i in range(len(chunk)))
            try:
                self.gateway.update_item(
                    dataset_keys.dataset_key(dataset_id),
                    expression,
                    names=names,
                    values=values,
                    condition=live(),
                )
            except ConditionFailed:
                raise DatasetMissing(dataset_id) from None

    def delete_tag(self, dataset_id: str, key: str) -> None:
        """REMOVE ``tags.<key>``; a missing dataset or tag is a no-op (as in SQL)."""
        if not addressable(dataset_id):
            return
        try:
            self.gateway.update_item(
                dataset_keys.dataset_key(dataset_id),
                "REMOVE #u_t.#u_k",
                names={"#u_t": "tags", "#u_k": tag_map_key(key)},
                condition=live(),
            )
        except ConditionFailed:
            return

    def list_in_workspace(
        self,
        workspace: str,
        *,
        newest_first: bool = True,
        first_page: int | None = None,
        older_than: tuple[int, str] | None = None,
    ) -> Iterator[dict]:
        """The workspace's datasets from GSI1, in (created_time, dataset_id) order or its
        reverse (lazily: stop iterating to stop reading). Eventually consistent. With
        ``first_page`` the first Query reads that many items and each next one twice as many
        (up to 1,000), so a short page costs what it returns, not a 1 MB read.
        ``older_than`` = (created_time, dataset_id): newest first, start right after it."""
        pattern = indexes.DATASETS_BY_CREATION
        below = dataset_keys.dataset_list_sk(*older_than) if older_than else None
        condition = pattern.key_condition(dataset_keys.datasets_gsi_pk(workspace), below=below)
        limit = first_page
        start_key = None
        while True:
            items, start_key = self.gateway.query_page(
                condition,
                index=pattern.index,
                forward=not newest_first,
                limit=limit,
                start_key=start_key,
            )
            yield from (item for item in items if is_live(item))
            if not start_key:
                return
            if limit is not None:
                limit = min(limit * 2, _MAX_PAGE)

    # ---- links ---------------------------------------------------------------------
    def _link_item(self, meta: dict[str, Any], experiment_id: str, now: int) -> dict[str, Any]:
        dataset_id = meta["dataset_id"]
        return {
            **dataset_keys.dataset_link_key(dataset_id, experiment_id),
            **dataset_keys.dataset_link_list_keys(experiment_id, dataset_id),
            WORKSPACE_ATTRIBUTE: meta[WORKSPACE_ATTRIBUTE],
            "dataset_id": dataset_id,
            "experiment_id": experiment_id,
            "created_time": now,
        }

    def links(self, dataset_id: str) -> list[dict[str, Any]]:
        """The dataset's experiment links in the SQL store's order (created_time, id)."""
        if not addressable(dataset_id):
            return []
        items = self.gateway.query(
            Key("PK").eq(dataset_keys.dataset_pk(dataset_id))
            & Key("SK").begins_with(dataset_keys.DATASET_LINK_PREFIX),
            consistent=True,
        )
        return sorted(items, key=lambda i: (int(i["created_time"]), i["experiment_id"]))

    def add_links(self, meta: dict[str, Any], experiment_ids: list[str], now: int) -> None:
        self.gateway.batch_write(puts=[self._link_item(meta, e, now) for e in experiment_ids])

    def remove_links(self, dataset_id: str, experiment_ids: Iterable[str]) -> None:
        self.gateway.batch_write(
            deletes=[dataset_keys.dataset_link_key(dataset_id, e) for e in experiment_ids]
        )

    def dataset_ids_of_experiment(self, experiment_id: str) -> list[str]:
        """Ids of the datasets linked to an experiment (GSI2; eventually consistent)."""
        pattern = indexes.DATASETS_BY_EXPERIMENT
        return [
            item["dataset_id"]
            for item in self.gateway.query(
                pattern.pk_eq(dataset_keys.datasets_by_experiment_pk(experiment_id)),
                index=pattern.index,
            )
        ]

    # ---- delete --------------------------------------------------------------------
    def delete(self, dataset_id: str) -> bool:
        """Mark, empty and remove the dataset; False if there was none. Rerunning finishes
        an interrupted delete."""
        if not addressable(dataset_id):
            return False
        key = dataset_keys.dataset_key(dataset_id)
        meta = self.gateway.get_item(key)
        if meta is None:
            return False
        if not meta.get("deleting"):
            try:
                self.gateway.update_item(
                    key,
                    f"SET #u_d = :u_d {indexes.DATASETS_BY_CREATION.remove_clause}",
                    names={"#u_d": "deleting"},
                    values={":u_d": True},
                    condition=Attr("PK").exists(),
                )
            except ConditionFailed:
                return False
        children = [
            {"PK": item["PK"], "SK": item["SK"]}
            for item in self.gateway.query(
                Key("PK").eq(dataset_keys.dataset_pk(dataset_id)), consistent=True
            )
            if item["SK"] != keys.META
        ]
        self.gateway.batch_write(deletes=children)
        self.gateway.delete_item(key)
        return True


def existing_experiment_ids(gateway: ScopedGateway, experiment_ids: Iterable[str]) -> set[str]:
    """The ids among these whose experiment exists in the gateway's workspace (one
    BatchGetItem per 100 ids; ids that are no experiment id cost nothing)."""
    candidates = [e for e in dict.fromkeys(experiment_ids) if e.isdigit() and len(e) <= 20]
    found = gateway.batch_get([keys.experiment_key(e) for e in candidates])
    return {str(i["experiment_id"]) for i in found}
