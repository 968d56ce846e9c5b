"""Keys of the registry's ordered listings (keyset paging of the registry searches).

- ``REGISTERED_MODELS_BY_LAST_UPDATE`` (GSI2): a workspace's registered model META items by
  last update, ``WS#<ws>#RMUPD`` / ``<last_updated_time enc>#<model id>``;
- ``MODEL_VERSIONS_BY_LAST_UPDATE`` (GSI3): a workspace's live model versions by last
  update, ``WS#<ws>#MVUPD`` / ``<last_updated_time enc>#<model id>#<version enc>``;
- ``MODEL_VERSIONS_BY_CREATION`` (GSI4): a workspace's live model versions by creation,
  ``WS#<ws>#MVCRE`` / ``<creation_time enc>#<model id>#<version enc>``.

Ties of the timestamp (the SQL store breaks them by name and version) are ordered in
memory by the searches: the sort key only makes each key unique. Whether every item of a
table carries these keys (a table created with this version does; older tables need
``registry backfill-order``) is the ``CONFIG`` / ``REGISTRY#ORDER#READY`` item.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import decode_int, encode_int
from mlflow_dynamodbstore.schema.keys import SEP, workspace_pk

_CONFIG_PK = "CONFIG"


def ready_key() -> dict[str, str]:
    return {"PK": _CONFIG_PK, "SK": SEP.join(("REGISTRY", "ORDER", "READY"))}


def models_by_update_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}RMUPD"


def model_update_sk(last_updated_time: int, model_id: str) -> str:
    return f"{encode_int(last_updated_time)}{SEP}{model_id}"


def model_update_keys(workspace: str, last_updated_time: int, model_id: str) -> dict[str, str]:
    return indexes.REGISTERED_MODELS_BY_LAST_UPDATE.keys(
        models_by_update_pk(workspace), model_update_sk(last_updated_time, model_id)
    )


def versions_by_update_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MVUPD"


def versions_by_creation_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MVCRE"


def version_order_sk(time: int, model_id: str, version: int) -> str:
    return f"{encode_int(time)}{SEP}{model_id}{SEP}{encode_int(version)}"


def version_update_keys(
    workspace: str, last_updated_time: int, model_id: str, version: int
) -> dict[str, str]:
    return indexes.MODEL_VERSIONS_BY_LAST_UPDATE.keys(
        versions_by_update_pk(workspace), version_order_sk(last_updated_time, model_id, version)
    )


def version_creation_keys(
    workspace: str, creation_time: int, model_id: str, version: int
) -> dict[str, str]:
    return indexes.MODEL_VERSIONS_BY_CREATION.keys(
        versions_by_creation_pk(workspace), version_order_sk(creation_time, model_id, version)
    )


def time_bound(time: int) -> str:
    """Sort key prefix of every entry at ``time``: ``>= bound(t)`` starts at t ascending,
    ``< bound(t + 1)`` starts at t descending."""
    return encode_int(time)


def moved_model_keys(meta: dict, workspace: str) -> dict[str, str]:
    """The partition key that moves a model META item to ``workspace``'s update listing
    (nothing for an item that is not in it: written before the listing, not backfilled)."""
    listing = indexes.REGISTERED_MODELS_BY_LAST_UPDATE
    return {listing.pk: models_by_update_pk(workspace)} if listing.pk in meta else {}


def moved_version_keys(version: dict, workspace: str) -> dict[str, str]:
    """The partition keys that move a version item to ``workspace``'s ordered listings."""
    moved = {}
    for listing, pk in (
        (indexes.MODEL_VERSIONS_BY_LAST_UPDATE, versions_by_update_pk(workspace)),
        (indexes.MODEL_VERSIONS_BY_CREATION, versions_by_creation_pk(workspace)),
    ):
        if listing.pk in version:
            moved[listing.pk] = pk
    return moved


def time_of_sort_key(sort_key: str) -> int:
    """The time a listing entry is filed under (the first part of its sort key)."""
    return decode_int(sort_key.split(SEP, 1)[0])


def backfill_record_key() -> dict[str, str]:
    """The resumable ``registry backfill-order`` job's record (its cursor)."""
    return {"PK": _CONFIG_PK, "SK": SEP.join(("JOB", "REGISTRY_ORDER_BACKFILL"))}
