"""Sort keys of a workspace's model version listing (``MODEL_VERSIONS_BY_WORKSPACE``, GSI1
``WS#<ws>#MVS``) in version-number order, for ``search_model_versions`` ordered by
``version_number`` first.

The partition holds every version of the workspace in two sort-key ranges:

- live versions: ``N#<version enc>#<model name>``, so reading the range forwards is the SQL
  store's ``version_number ASC, name ASC`` and backwards ``version_number DESC, name DESC``
  (a model name is unique in its workspace, and nothing follows it in the key, so the
  order of the names is the order of the keys);
- deleted versions (kept, redacted, as the SQL store keeps them): ``D#<model id>#<version
  enc>``, out of the searches' way but still listed for workspace deletion and ``ttl
  apply``.

A table written before this order has ``<model id>#<version enc>`` keys (model ids are
lowercase hex, so they sort apart from ``D#`` and ``N#``); ``registry backfill-version-order``
rewrites them, then marks the table ready (``CONFIG`` / ``REGISTRY#NUMBER_ORDER#READY``).
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import decode_int, encode_int
from mlflow_dynamodbstore.schema.keys import SEP, model_versions_gsi1pk

_CONFIG_PK = "CONFIG"
_LIVE = "N"
_DELETED = "D"
# The character after SEP: ``<prefix>$`` sorts after every ``<prefix>#...`` key.
_AFTER_SEP = chr(ord(SEP) + 1)


def live_sk(version: int, name: str) -> str:
    return f"{_LIVE}{SEP}{encode_int(version)}{SEP}{name}"


def deleted_sk(model_id: str, version: int) -> str:
    return f"{_DELETED}{SEP}{model_id}{SEP}{encode_int(version)}"


def live_version_keys(workspace: str, version: int, name: str) -> dict[str, str]:
    """The listing keys of a live version of the model called ``name``."""
    return indexes.MODEL_VERSIONS_BY_WORKSPACE.keys(
        model_versions_gsi1pk(workspace), live_sk(version, name)
    )


def deleted_version_keys(workspace: str, model_id: str, version: int) -> dict[str, str]:
    return indexes.MODEL_VERSIONS_BY_WORKSPACE.keys(
        model_versions_gsi1pk(workspace), deleted_sk(model_id, version)
    )


def expected_sk(model_id: str, version: int, name: str, live: bool) -> str:
    """The sort key a version item carries once keyed for this order."""
    return live_sk(version, name) if live else deleted_sk(model_id, version)


def is_live_sk(sort_key: str) -> bool:
    return sort_key.startswith(_LIVE + SEP)


def name_of_live_sk(sort_key: str) -> str:
    """The model name a live version's key was filed under."""
    return sort_key.split(SEP, 2)[2]


def version_of_live_sk(sort_key: str) -> int:
    return decode_int(sort_key.split(SEP, 2)[1])


def live_range() -> tuple[str, str]:
    """(lowest, highest) sort key bound of every live version (inclusive; no key equals
    either)."""
    return f"{_LIVE}{SEP}", f"{_LIVE}{_AFTER_SEP}"


def number_range(version: int) -> tuple[str, str]:
    """(lowest, highest) bound of the live versions numbered ``version`` (no key equals
    either: names are never empty)."""
    prefix = f"{_LIVE}{SEP}{encode_int(version)}"
    return f"{prefix}{SEP}", f"{prefix}{_AFTER_SEP}"


def ready_key() -> dict[str, str]:
    return {"PK": _CONFIG_PK, "SK": SEP.join(("REGISTRY", "NUMBER_ORDER", "READY"))}


def backfill_record_key() -> dict[str, str]:
    """The resumable ``registry backfill-version-order`` job's record (its cursor)."""
    return {"PK": _CONFIG_PK, "SK": SEP.join(("JOB", "REGISTRY_NUMBER_ORDER_BACKFILL"))}
