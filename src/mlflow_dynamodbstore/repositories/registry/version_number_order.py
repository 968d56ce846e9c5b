"""The workspace's model versions in version-number order (schema/version_number_keys.py):
keeping a model's version keys in step with its name, whether a table is keyed that way,
and the reads the version-number walks of search_model_versions make.

A live version's key holds its model's name. Creates write it with the version (the
create's META update is conditioned on the name it used); a rename rewrites the keys of the
model's versions just after its own transaction (``rekey_model``), in transactions that
check META still has the name written; a deleted version moves to the ``D#`` range in the
delete's own write. Between a rename's commit and its re-keying (milliseconds, or until the
rename is retried or the backfill runs if the server stops in between) the renamed model's
versions keep their place under the old name: docs/access-patterns.md says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.paging import PAGE_CAP, growing_pages
from mlflow_dynamodbstore.repositories.registry.order_state import OrderReadiness
from mlflow_dynamodbstore.schema import indexes, keys, version_number_keys
from mlflow_dynamodbstore.schema.keys import model_versions_gsi1pk

Item = dict[str, Any]

READINESS = OrderReadiness(version_number_keys.ready_key)
LISTING = indexes.MODEL_VERSIONS_BY_WORKSPACE
_ATTEMPTS = 10
_DELETED_STAGE = "Deleted_Internal"


class ModelKeepsChanging(Exception):
    """A model's versions or name changed under every attempt to key them."""


def expected_sk(meta: Item, version: Item) -> str:
    live = version.get("current_stage") != _DELETED_STAGE
    return version_number_keys.expected_sk(
        meta["model_id"], int(version["version"]), meta["name"], live
    )


def key_versions(gateway: TableGateway, meta: Item, versions: list[Item]) -> int:
    """Give ``versions`` (as read with ``meta``) the sort keys of this order; returns how
    many changed. Each transaction checks META still has the name used and each version its
    stage (TransactionCancelled otherwise: the caller reads the model again)."""
    stale = [v for v in versions if v.get(LISTING.sk) != expected_sk(meta, v)]
    guard = gateway.tx_check(
        keys.registered_model_key(meta["model_id"]), Attr("name").eq(meta["name"])
    )
    for start in range(0, len(stale), TRANSACTION_LIMIT - 1):
        chunk = stale[start : start + TRANSACTION_LIMIT - 1]
        gateway.transact_write(
            [
                guard,
                *(
                    gateway.tx_update(
                        {"PK": v["PK"], "SK": v["SK"]},
                        "SET #u_sk = :u_sk",
                        names={"#u_sk": LISTING.sk},
                        values={":u_sk": expected_sk(meta, v)},
                        condition=Attr("current_stage").eq(v["current_stage"]),
                    )
                    for v in chunk
                ),
            ]
        )
    return len(stale)


def rekey_model(gateway: TableGateway, model_id: str) -> tuple[int, int]:
    """Read the model (1 strongly consistent Query) and key its versions; returns (versions,
    keys rewritten). Retried when a write got between the read and the keying."""
    for _ in range(_ATTEMPTS):
        meta = None
        versions = []
        for item in gateway.query(
            Key("PK").eq(keys.registered_model_pk(model_id)), consistent=True
        ):
            if item["SK"] == keys.META:
                meta = item
            elif item["SK"].startswith(keys.MODEL_VERSION_PREFIX):
                versions.append(item)
        if meta is None:
            return 0, 0  # deleted meanwhile
        try:
            return len(versions), key_versions(gateway, meta, versions)
        except TransactionCancelled:
            continue  # a write got between: read the model again
    raise ModelKeepsChanging(model_id)


def live_pages(
    gateway: TableGateway,
    workspace: str,
    *,
    descending: bool,
    lower: str | None = None,
    upper: str | None = None,
    first_page: int,
) -> Iterator[list[Item]]:
    """Pages of the workspace's live versions in version-number order (forwards: number and
    name ascending), between the sort keys ``lower`` and ``upper`` (inclusive; the whole
    live range by default), each Query asking for twice the items of the one before."""
    low, high = version_number_keys.live_range()
    condition = LISTING.key_condition(
        model_versions_gsi1pk(workspace), lower=lower or low, upper=upper or high
    )
    return growing_pages(
        gateway, condition, index=LISTING.index, forward=not descending, first_page=first_page
    )


def live_page(
    gateway: TableGateway,
    workspace: str,
    *,
    descending: bool,
    lower: str | None = None,
    upper: str | None = None,
    limit: int,
) -> tuple[list[Item], bool]:
    """One Query of ``live_pages``' range: (items, whether more follow)."""
    low, high = version_number_keys.live_range()
    items, last_key = gateway.query_page(
        LISTING.key_condition(
            model_versions_gsi1pk(workspace), lower=lower or low, upper=upper or high
        ),
        index=LISTING.index,
        forward=not descending,
        limit=min(max(1, limit), PAGE_CAP),
    )
    return items, last_key is not None
