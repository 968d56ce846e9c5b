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

from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.backfills.model_walk import Progress, walk_models
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.registry import version_number_order
from mlflow_dynamodbstore.schema import keys, version_number_keys

Item = dict[str, Any]


@dataclass
class VersionNumberBackfillReport:
    models: int = 0
    versions: int = 0
    rekeyed: int = 0
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backfill_version_number_order(
    gateway: TableGateway, progress: Progress | None = None, *, dry_run: bool = False
) -> VersionNumberBackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped. ``dry_run`` only counts the
    versions whose keys would change."""
    report = VersionNumberBackfillReport()

    def visit(meta: Item) -> None:
        versions, rekeyed = _model(gateway, meta["model_id"], dry_run)
        report.models += 1
        report.versions += versions
        report.rekeyed += rekeyed

    record_key = version_number_keys.backfill_record_key()
    report.resumed = walk_models(
        gateway, record_key, visit, progress or (lambda _n: None), dry_run=dry_run
    )
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
