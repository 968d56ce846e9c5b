"""Registry items -> MLflow entities (RegisteredModel, ModelVersion), shaped as the SQL store
shapes them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)

Item = dict[str, Any]


def _int(value: Decimal | int | None) -> int | None:
    return None if value is None else int(value)


def effective_last_updated(version: Item, meta: Item) -> int | None:
    """The SQL store stamps every version with the rename time on a rename; we keep the
    rename time on the model instead (see registered_models.py)."""
    own = _int(version.get("last_updated_time"))
    renamed = _int(meta.get("renamed_time"))
    if renamed is None or own is None:
        return own
    return max(own, renamed)


def aliases_of(meta: Item, version: int) -> list[str]:
    return sorted(a for a, v in (meta.get("aliases") or {}).items() if int(v) == version)


def to_model_version(version: Item, meta: Item, *, with_aliases: bool = False) -> ModelVersion:
    number = int(version["version"])
    return ModelVersion(
        name=meta["name"],
        version=number,
        creation_timestamp=_int(version.get("creation_time")),
        last_updated_timestamp=effective_last_updated(version, meta),
        description=version.get("description"),
        user_id=version.get("user_id"),
        current_stage=version.get("current_stage"),
        source=version.get("source"),
        run_id=version.get("run_id"),
        status=version.get("status"),
        status_message=version.get("status_message"),
        tags=[ModelVersionTag(k, v) for k, v in (version.get("tags") or {}).items()],
        run_link=version.get("run_link"),
        aliases=aliases_of(meta, number) if with_aliases else [],
        workspace=version.get("workspace"),
    )


def order_like_get(meta: Item, latest: list[ModelVersion]) -> list[ModelVersion]:
    """The SQL store's get_registered_model order: stages by their lowest live version."""
    first = meta.get("first") or {}
    return sorted(latest, key=lambda mv: int(first.get(mv.current_stage, mv.version)))


def order_like_search(latest: list[ModelVersion]) -> list[ModelVersion]:
    """The SQL store's search_registered_models order (its window query over
    (workspace, name, stage) yields stages alphabetically)."""
    return sorted(latest, key=lambda mv: mv.current_stage)


def to_registered_model(meta: Item, latest_versions: list[ModelVersion]) -> RegisteredModel:
    """``latest_versions`` in the order given (see order_like_get / order_like_search)."""
    return RegisteredModel(
        name=meta["name"],
        creation_timestamp=_int(meta.get("creation_time")),
        last_updated_timestamp=_int(meta.get("last_updated_time")),
        description=meta.get("description"),
        latest_versions=list(latest_versions),
        tags=[RegisteredModelTag(k, v) for k, v in (meta.get("tags") or {}).items()],
        aliases=[
            RegisteredModelAlias(a, int(v)) for a, v in sorted((meta.get("aliases") or {}).items())
        ],
        workspace=meta.get("workspace"),
    )


def latest_version_keys(meta: Item) -> list[tuple[str, int]]:
    return [(meta["model_id"], int(v)) for v in (meta.get("latest") or {}).values()]
