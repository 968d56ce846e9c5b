"""Backfill of the registry's ordered listings (schema/registry_order_keys.py) for models
and versions written before them: ``registry backfill-order``.

A resumable job with a record in the table (``CONFIG`` / ``JOB#REGISTRY_ORDER_BACKFILL``):
every workspace (``default`` first, then by name), its registered models by name (GSI1,
``PAGE`` per Query); for each model one strongly consistent Query of its partition, then

- META gets its REGISTERED_MODELS_BY_LAST_UPDATE keys (from ``last_updated_time``) and
  ``prompt_versions`` (ADD of the versions whose prompt tag is "true": a union with what
  live writes added since), conditioned on ``last_updated_time`` being the value read;
- each live version gets its MODEL_VERSIONS_BY_LAST_UPDATE and MODEL_VERSIONS_BY_CREATION
  keys, its ``last_updated_time`` raised to the model's rename time (what the SQL store
  wrote at the rename), conditioned on being live with the value read.

A condition that fails (a live write got there first, with its own keys) re-reads the
model. The record saves the workspace and the listing's LastEvaluatedKey after each page; a
rerun resumes there (models are idempotent). When every workspace is done the table is
marked ready (searches page with keyset tokens) and the record deleted. Listings only,
never a Scan. Cost: the models' partitions read once, 1 UpdateItem per model and per live
version, 1 PutItem of the record per page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY

from mlflow_dynamodbstore.backfills.model_walk import Progress, walk_models
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.registry.entities import effective_last_updated
from mlflow_dynamodbstore.repositories.registry.model_versions import PROMPT_VERSIONS, is_live
from mlflow_dynamodbstore.repositories.registry.order_state import READINESS
from mlflow_dynamodbstore.schema import indexes, keys, registry_order_keys

Item = dict[str, Any]
_ATTEMPTS = 10


@dataclass
class RegistryOrderBackfillReport:
    models: int = 0
    versions: int = 0
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backfill_registry_order(
    gateway: TableGateway, progress: Progress | None = None, *, dry_run: bool = False
) -> RegistryOrderBackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped. ``dry_run`` only counts."""
    report = RegistryOrderBackfillReport()

    def visit(meta: Item) -> None:
        report.versions += _model(gateway, meta["model_id"], dry_run)
        report.models += 1

    record_key = registry_order_keys.backfill_record_key()
    report.resumed = walk_models(
        gateway, record_key, visit, progress or (lambda _n: None), dry_run=dry_run
    )
    if not dry_run:
        READINESS.mark(gateway, True)
        gateway.delete_item(record_key)
    return report


def _model(gateway: TableGateway, model_id: str, dry_run: bool) -> int:
    """Give one model and its live versions their listing keys; the versions counted."""
    for _ in range(_ATTEMPTS):
        items = list(
            gateway.query(Key("PK").eq(keys.registered_model_pk(model_id)), consistent=True)
        )
        meta = next((i for i in items if i["SK"] == keys.META), None)
        if meta is None:
            return 0  # deleted meanwhile
        versions = [i for i in items if i["SK"].startswith(keys.MODEL_VERSION_PREFIX)]
        live = [v for v in versions if is_live(v)]
        if dry_run:
            return len(live)
        try:
            _write_meta(gateway, meta, versions)
            for version in live:
                _write_version(gateway, meta, version)
        except ConditionFailed:
            continue  # a live write moved something: read the model again
        return len(live)
    raise RuntimeError(f"model {model_id} kept changing; run the backfill again")


def _write_meta(gateway: TableGateway, meta: Item, versions: list[Item]) -> None:
    by_update = indexes.REGISTERED_MODELS_BY_LAST_UPDATE
    time = int(meta["last_updated_time"])
    keyed = registry_order_keys.model_update_keys(meta["workspace"], time, meta["model_id"])
    names = {"#u_pk": by_update.pk, "#u_sk": by_update.sk}
    values: dict[str, Any] = {":u_pk": keyed[by_update.pk], ":u_sk": keyed[by_update.sk]}
    expression = "SET #u_pk = :u_pk, #u_sk = :u_sk"
    prompts = {
        int(v["version"])
        for v in versions
        if (v.get("tags") or {}).get(IS_PROMPT_TAG_KEY) == "true"
    }
    if prompts:
        names["#u_pv"] = PROMPT_VERSIONS
        values[":u_pv"] = prompts
        expression += " ADD #u_pv :u_pv"
    gateway.update_item(
        {"PK": meta["PK"], "SK": meta["SK"]},
        expression,
        names=names,
        values=values,
        condition=Attr("last_updated_time").eq(meta["last_updated_time"]),
    )


def _write_version(gateway: TableGateway, meta: Item, version: Item) -> None:
    model_id, workspace, number = meta["model_id"], meta["workspace"], int(version["version"])
    updated = effective_last_updated(version, meta)
    fields = {
        "last_updated_time": updated,
        **registry_order_keys.version_update_keys(workspace, updated, model_id, number),
        **registry_order_keys.version_creation_keys(
            workspace, int(version["creation_time"]), model_id, number
        ),
    }
    names = {f"#u_f{i}": name for i, name in enumerate(fields)}
    values = {f":u_f{i}": value for i, value in enumerate(fields.values())}
    gateway.update_item(
        {"PK": version["PK"], "SK": version["SK"]},
        "SET " + ", ".join(f"#u_f{i} = :u_f{i}" for i in range(len(fields))),
        names=names,
        values=values,
        condition=Attr("current_stage").eq(version["current_stage"])
        & Attr("last_updated_time").eq(version["last_updated_time"]),
    )
