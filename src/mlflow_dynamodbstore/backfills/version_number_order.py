"""Backfill of the version-number order (schema/version_number_keys.py) for model versions
written before it: ``registry backfill-version-order``.

A resumable job with a record in the table (``CONFIG`` /
``JOB#REGISTRY_NUMBER_ORDER_BACKFILL``): every workspace (``default`` first, then by name),
its registered models by name (GSI1, ``PAGE`` per Query); for each model one strongly
consistent Query of its partition, then the versions whose listing sort key is not yet
this order's (``N#<version>#<model name>`` when live, ``D#<model id>#<version>`` when
deleted) get it, in transactions that check META still has the name read and each version
its stage (version_number_order.key_versions; a failed check re-reads the model).

The record saves the workspace and the listing's LastEvaluatedKey after each page; a rerun
resumes there (models are idempotent: keys already right are not written). When every
workspace is done the table is marked ready (search_model_versions by ``version_number``
pages with keyset tokens instead of reading every version per page) and the record
deleted. Listings only, never a Scan. Cost: the models' partitions read once, one
transactional write per version re-keyed (plus one ConditionCheck per 99), 1 PutItem of the
record per page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.registry import version_number_order
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import indexes, keys, version_number_keys

Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of models done since last call
PAGE = 50


@dataclass
class VersionNumberBackfillReport:
    models: int = 0
    versions: int = 0
    rekeyed: int = 0
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _workspaces(gateway: TableGateway) -> list[str]:
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    return [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]


def backfill_version_number_order(
    gateway: TableGateway, progress: Progress | None = None, *, dry_run: bool = False
) -> VersionNumberBackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped. ``dry_run`` only counts the
    versions whose keys would change."""
    progress = progress or (lambda _n: None)
    record_key = version_number_keys.backfill_record_key()
    cursor = {} if dry_run else (gateway.get_item(record_key) or {})
    report = VersionNumberBackfillReport(resumed=bool(cursor))
    workspaces = _workspaces(gateway)
    first = workspaces.index(cursor["workspace"]) if cursor.get("workspace") in workspaces else 0
    listing = indexes.REGISTERED_MODELS_BY_NAME
    for i, workspace in enumerate(workspaces[first:]):
        start_key = cursor.get("after") if i == 0 else None
        if i == 0 and cursor.get("finished"):
            continue
        while True:
            metas, start_key = gateway.query_page(
                listing.pk_eq(keys.registered_models_gsi1pk(workspace)),
                index=listing.index,
                limit=PAGE,
                start_key=start_key,
            )
            for meta in metas:
                versions, rekeyed = _model(gateway, meta["model_id"], dry_run)
                report.models += 1
                report.versions += versions
                report.rekeyed += rekeyed
            if not dry_run:
                record = {**record_key, "workspace": workspace, "finished": start_key is None}
                if start_key is not None:
                    record["after"] = start_key
                gateway.put_item(record)
            progress(len(metas))
            if start_key is None:
                break
    if not dry_run:
        version_number_order.READINESS.mark(gateway, True)
        gateway.delete_item(record_key)
    return report


def _model(gateway: TableGateway, model_id: str, dry_run: bool) -> tuple[int, int]:
    """(versions, versions whose keys changed or would change) of one model."""
    if not dry_run:
        return version_number_order.rekey_model(gateway, model_id)
    items = list(gateway.query(Key("PK").eq(keys.registered_model_pk(model_id)), consistent=True))
    meta = next((i for i in items if i["SK"] == keys.META), None)
    if meta is None:
        return 0, 0
    versions = [i for i in items if i["SK"].startswith(keys.MODEL_VERSION_PREFIX)]
    listing = version_number_order.LISTING
    stale = [v for v in versions if v.get(listing.sk) != version_number_order.expected_sk(meta, v)]
    return len(versions), len(stale)
