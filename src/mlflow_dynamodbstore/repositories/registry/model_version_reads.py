"""Reads of model versions: one version, a model's partition, and the workspace listings
(by run, by creation or last update time, in version order) that searches walk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.paging import growing_walk
from mlflow_dynamodbstore.repositories.registry.order_state import walk_time_listing
from mlflow_dynamodbstore.schema import indexes, keys, registry_order_keys

Item = dict[str, Any]


class ModelVersionReads:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- reads -----------------------------------------------------------------------
    def get(self, model_id: str, version: int, *, consistent: bool = True) -> Item | None:
        return self.gateway.get_item(
            keys.model_version_key(model_id, version), consistent=consistent
        )

    def get_many(self, pairs: list[tuple[str, int]]) -> list[Item]:
        return self.gateway.batch_get(
            [keys.model_version_key(m, v) for m, v in pairs], consistent=True
        )

    def read_model(
        self, model_id: str, *, consistent: bool = True
    ) -> tuple[Item | None, list[Item]]:
        """META and every version (live or deleted) of one model: one Query of its partition."""
        meta = None
        versions = []
        for item in self.gateway.query(
            Key("PK").eq(keys.registered_model_pk(model_id)), consistent=consistent
        ):
            if item["SK"] == keys.META:
                meta = item
            elif item["SK"].startswith(keys.MODEL_VERSION_PREFIX):
                versions.append(item)
        return meta, versions

    def list_in_workspace(self, workspace: str) -> Iterator[Item]:
        """Every version item of a workspace (GSI1)."""
        listing = indexes.MODEL_VERSIONS_BY_WORKSPACE
        return self.gateway.query(
            listing.pk_eq(keys.model_versions_gsi1pk(workspace)), index=listing.index
        )

    def list_by_run(self, workspace: str, run_id: str) -> Iterator[Item]:
        """The live versions registered from one run (GSI2)."""
        by_run = indexes.MODEL_VERSIONS_BY_RUN
        return self.gateway.query(
            by_run.pk_eq(keys.model_versions_by_run_gsi2pk(workspace, run_id)), index=by_run.index
        )

    def walk_by_time(
        self,
        workspace: str,
        *,
        by_update: bool,
        descending: bool,
        start: int | None = None,
        first_page: int = 100,
    ) -> Iterator[list[Item]]:
        """Pages of a workspace's live versions by last update (``by_update``) or creation
        time (GSI3 / GSI4), from the entries at time ``start`` (inclusive) on, each Query
        asking for twice the items of the one before (up to 1,000)."""
        if by_update:
            listing = indexes.MODEL_VERSIONS_BY_LAST_UPDATE
            pk = registry_order_keys.versions_by_update_pk(workspace)
        else:
            listing = indexes.MODEL_VERSIONS_BY_CREATION
            pk = registry_order_keys.versions_by_creation_pk(workspace)
        return walk_time_listing(self.gateway, listing, pk, descending, start, first_page)

    def walk_versions(
        self, model_id: str, *, descending: bool, start: int | None = None, first_page: int = 100
    ) -> Iterator[Item]:
        """One model's version items (live or deleted) in version order, from version
        ``start`` (inclusive) on, lazily (eventually consistent Queries of its partition, at
        half the read units: searches read GSIs, which lag anyway)."""
        pk = Key("PK").eq(keys.registered_model_pk(model_id))
        if start is None:
            condition = pk & Key("SK").begins_with(keys.MODEL_VERSION_PREFIX)
        else:
            bound = keys.model_version_key(model_id, start)["SK"]
            lowest = keys.model_version_key(model_id, 0)["SK"]
            condition = (
                pk & Key("SK").between(lowest, bound)
                if descending
                else pk & Key("SK").between(bound, keys.MODEL_VERSION_PREFIX + "~")
            )
        yield from growing_walk(
            self.gateway, condition, forward=not descending, first_page=first_page
        )
