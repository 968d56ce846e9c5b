"""Experiments: the META item, its name guard and the per-workspace listing (GSI1).

Every state change is one conditional request on the META item (or one transaction when
the name guard moves too), so two servers racing can never both win.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities import Experiment, ExperimentTag, LifecycleStage
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.config.settings import SettingsSource
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE
from mlflow_dynamodbstore.gateway import (
    ConditionFailed,
    ItemTooLarge,
    TableGateway,
    TransactionCancelled,
)
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic
from mlflow_dynamodbstore.gateway.paging import growing_walk
from mlflow_dynamodbstore.repositories import experiment_tag_values as tag_values
from mlflow_dynamodbstore.schema import indexes, keys, tag_index_keys
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE
from mlflow_dynamodbstore.schema.metric_rank_keys import RANK_SHARDS, SHARDED_RANKS_ATTRIBUTE
from mlflow_dynamodbstore.schema.step_gate_keys import CLOSING_GATES
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = Experiment.DEFAULT_EXPERIMENT_NAME
EXPERIMENT_COUNTER = "EXPERIMENT"
# Attempts of a create at the next id: every create in the table races for the one id
# counter, so with N creators at once the last may lose N - 1 times; 30 rather than the
# default 20 keeps busy servers (docs/access-patterns.md) clear of TEMPORARILY_UNAVAILABLE.
_ID_ATTEMPTS = 30
LIFECYCLE_STAGES = (LifecycleStage.ACTIVE, LifecycleStage.DELETED)
# Items per Query when listing lazily; an experiment item is ~0.5 KB, so 1,000 stay < 1 MB.


class ExperimentNameTaken(Exception):
    """Another experiment in the workspace already has this name."""


class ExperimentMissing(Exception):
    """No such experiment in the workspace."""


class ExperimentNotInStage(Exception):
    """The experiment exists but is not in the lifecycle stage the operation needs."""

    def __init__(self, lifecycle_stage: str):
        super().__init__(lifecycle_stage)
        self.lifecycle_stage = lifecycle_stage


class ExperimentBusy(Exception):
    """Concurrent changes to the experiment kept a rename from going through."""


class ExperimentTooLarge(Exception):
    """The write would push the META item past DynamoDB's 400 KB item limit."""


class TagMissing(Exception):
    """delete_tag named a key the experiment does not have."""


class _IdTaken(Conflict):
    """A concurrent create moved the id counter on first."""


class ExperimentRepository:
    def __init__(self, gateway: TableGateway, settings: SettingsSource | None = None):
        self.gateway = gateway
        # tag globs to index (config/settings.py); None: no tag index entries are written
        self._settings = settings

    def tag_indexed(self, key: str) -> bool:
        """Does this experiment tag key get a tag index entry? The table's globs only: the
        workspace-wide experiment index must be complete for a key, not per experiment."""
        if self._settings is None or not tag_index_keys.indexable_key(key):
            return False
        return self._settings.current().indexes_tag(None, key)

    def tag_values_indexed(self) -> bool:
        """Are tag values trigram-indexed (``experiment_tag_value`` configured)?"""
        return self._settings is not None and self._settings.current().indexes_trigrams(
            EXPERIMENT_TAG_VALUE
        )

    def _tag_entries(self, workspace: str, experiment_id: str, tags: dict[str, Any]) -> list:
        return [
            self.gateway.tx_put(tag_index_keys.experiment_entry(workspace, experiment_id, k, v))
            for k, v in tags.items()
            if v is not None and self.tag_indexed(k)
        ]

    def create_next(
        self,
        *,
        workspace: str,
        name: str,
        artifact_location: Callable[[str], str],
        creation_time: int,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Create the experiment under the next id (1, 2, 3... as in MLflow's SQL store; 0
        is the Default experiment) and return the id: 1 GetItem of the id counter and 1
        TransactWriteItems moving the counter on from the value read, with the name guard and
        the experiment. A taken name cancels the whole transaction, so no id is used up; an
        id taken by a concurrent create re-reads the counter and tries the next one."""
        counter_key = keys.counter_key(EXPERIMENT_COUNTER)

        def read(_lost: Lost | None) -> int | None:
            counter = self.gateway.get_item(counter_key)
            return None if counter is None else int(counter["value"])

        def write(current: int | None) -> str:
            experiment_id = str((current or 0) + 1)
            unchanged = Attr("PK").not_exists() if current is None else Attr("value").eq(current)
            claim = self.gateway.tx_update(
                counter_key,
                "SET #u_value = :u_next",
                names={"#u_value": "value"},
                values={":u_next": int(experiment_id)},
                condition=unchanged,
            )
            self.create(  # raises _IdTaken (a Conflict) when the counter moved on
                experiment_id=experiment_id,
                workspace=workspace,
                name=name,
                artifact_location=artifact_location(experiment_id),
                creation_time=creation_time,
                tags=tags,
                claim=claim,
            )
            return experiment_id

        try:
            return optimistic(read, write, what=f"experiment {name}", attempts=_ID_ATTEMPTS)
        except Contention:
            raise ExperimentBusy(name) from None

    def create(
        self,
        *,
        experiment_id: str,
        workspace: str,
        name: str,
        artifact_location: str,
        creation_time: int,
        tags: dict[str, str] | None = None,
        claim: dict | None = None,
    ) -> None:
        """Write the experiment and its name guard in one transaction (with ``claim``, the
        id counter's update, when given); raise ExperimentNameTaken if the name is in use in
        the workspace."""
        item = {
            **keys.experiment_key(experiment_id),
            **keys.experiment_list_keys(
                workspace, LifecycleStage.ACTIVE, experiment_id, creation_time
            ),
            "experiment_id": experiment_id,
            "workspace": workspace,
            "name": name,
            "artifact_location": artifact_location,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "creation_time": creation_time,
            "last_update_time": creation_time,
            "tags": dict(tags or {}),
            # its runs' metric rank entries are all sharded: searches skip the old key
            SHARDED_RANKS_ATTRIBUTE: RANK_SHARDS,
        }
        guard = {
            **keys.experiment_name_key(workspace, name),
            "experiment_id": experiment_id,
        }
        actions = [
            self.gateway.tx_put(guard, Attr("PK").not_exists()),
            self.gateway.tx_put(item, Attr("PK").not_exists()),
            *self._tag_entries(workspace, experiment_id, dict(tags or {})),
        ]
        names = postings.created(name_document(workspace, experiment_id), name)
        if tags and self.tag_values_indexed():
            names.puts.extend(tag_values.tag_posting_keys(workspace, experiment_id, tags))
        try:
            postings.transact_with_postings(
                self.gateway, actions if claim is None else [*actions, claim], names
            )
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise ExperimentNameTaken(name) from None
            if claim is not None and (exc.is_condition_failure or exc.has_conflict):
                raise _IdTaken() from None
            if exc.is_condition_failure:
                raise ExperimentNameTaken(name) from None
            raise

    def ensure_default(self, artifact_location: str, creation_time: int) -> None:
        """Create experiment 0 "Default" in the default workspace unless it exists."""
        with contextlib.suppress(ExperimentNameTaken):
            self.create(
                experiment_id=DEFAULT_EXPERIMENT_ID,
                workspace=DEFAULT_WORKSPACE_NAME,
                name=DEFAULT_EXPERIMENT_NAME,
                artifact_location=artifact_location,
                creation_time=creation_time,
            )

    def get_many(self, experiment_ids: list[str]) -> list[dict[str, Any]]:
        """META items of those that exist (in the gateway's workspace): one BatchGetItem per
        100 ids."""
        return self.gateway.batch_get([keys.experiment_key(e) for e in experiment_ids])

    def get(self, experiment_id: str) -> dict[str, Any] | None:
        return self.gateway.get_item(keys.experiment_key(experiment_id))

    def require(self, experiment_id: str) -> dict[str, Any]:
        """The experiment's item; ExperimentMissing if it does not exist (in the workspace
        the gateway is scoped to)."""
        item = self.get(experiment_id)
        if item is None:
            raise ExperimentMissing(experiment_id)
        return item

    def get_id_by_name(self, workspace: str, name: str) -> str | None:
        guard = self.gateway.get_item(keys.experiment_name_key(workspace, name))
        return guard["experiment_id"] if guard else None

    def list_in_workspace(self, workspace: str, lifecycle_stage: str | None = None):
        """All experiment items of a workspace (one lifecycle stage, or both), via GSI1."""
        stages = [lifecycle_stage] if lifecycle_stage else list(LIFECYCLE_STAGES)
        for stage in stages:
            yield from self.gateway.query(
                indexes.EXPERIMENTS_BY_CREATION.pk_eq(keys.experiments_gsi1pk(workspace, stage)),
                index=indexes.EXPERIMENTS_BY_CREATION.index,
            )

    def newest_first(
        self,
        workspace: str,
        lifecycle_stage: str,
        *,
        after: tuple[int, str] | None = None,
        first_page: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """The stage's experiments in MLflow's default order (creation_time DESC,
        experiment_id ASC), lazily: each Query asks for twice as many items as the one
        before (up to 1,000), so a caller that stops early pays for little more than it
        used. ``after`` = (creation_time, experiment_id) of the last item already seen."""
        listing = indexes.EXPERIMENTS_BY_CREATION
        below = keys.experiment_list_sort_key(*after) if after is not None else None
        condition = listing.key_condition(
            keys.experiments_gsi1pk(workspace, lifecycle_stage), below=below
        )
        yield from growing_walk(
            self.gateway, condition, index=listing.index, forward=False, first_page=first_page
        )

    # ---- lifecycle -------------------------------------------------------------------
    def set_lifecycle(
        self,
        experiment_id: str,
        workspace: str,
        *,
        from_stage: str,
        to_stage: str,
        now: int,
        ttl: int | None = None,
        marker: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        before_flip: Callable[[], Any] | None = None,
    ) -> None:
        """Move the experiment from one lifecycle stage to the other: one conditional
        UpdateItem of META (its GSI1 partition key moves to the new stage's). ``deleted_time`` /
        ``restored_time`` record when; the runs repository derives run lifecycle from them.
        ``ttl`` is set (or removed when None). With ``marker`` (a delete), META is read first
        and the item ``marker(meta)`` is written in the same TransactWriteItems as the update.
        Raises ExperimentMissing when it does not exist in the workspace or is not in
        ``from_stage`` (the SQL store reports both as "does not exist"). ``before_flip`` runs
        once META was read and found in ``from_stage`` (a delete closes its runs' step gates
        there, repositories/runs/step_gate.py); the flip clears ``closing_gates``."""
        time_attr = "deleted_time" if to_stage == LifecycleStage.DELETED else "restored_time"
        expression = "SET #u_stage = :u_stage, #u_lut = :u_now, #u_when = :u_now, #u_pk = :u_pk"
        names = {
            "#u_stage": "lifecycle_stage",
            "#u_lut": "last_update_time",
            "#u_when": time_attr,
            "#u_pk": indexes.EXPERIMENTS_BY_CREATION.pk,
            "#u_ttl": TTL_ATTRIBUTE,
            "#u_cg": CLOSING_GATES,
        }
        values: dict[str, Any] = {
            ":u_stage": to_stage,
            ":u_now": now,
            ":u_pk": keys.experiments_gsi1pk(workspace, to_stage),
        }
        if ttl is None:
            expression += " REMOVE #u_ttl, #u_cg"
        else:
            expression += ", #u_ttl = :u_ttl REMOVE #u_cg"
            values[":u_ttl"] = ttl
        condition = Attr("workspace").eq(workspace) & Attr("lifecycle_stage").eq(from_stage)
        key = keys.experiment_key(experiment_id)
        if marker is None:
            try:
                self.gateway.update_item(
                    key, expression, names=names, values=values, condition=condition
                )
            except ConditionFailed:
                raise ExperimentMissing(experiment_id) from None
            return
        item = self.get(experiment_id)
        if item is None or item.get("lifecycle_stage") != from_stage:
            raise ExperimentMissing(experiment_id)
        if before_flip is not None:
            before_flip()
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_update(
                        key,
                        expression,
                        names=names,
                        values=values,
                        # the marker names the guard to free: the name must be the one read
                        condition=condition & Attr("name").eq(item["name"]),
                    ),
                    self.gateway.tx_put(marker(item)),
                ]
            )
        except TransactionCancelled:
            raise ExperimentMissing(experiment_id) from None

    # ---- rename ----------------------------------------------------------------------
    def rename(self, experiment_id: str, workspace: str, new_name: str, now: int) -> None:
        """Move the name guard and rename META in one transaction: delete the old guard (if
        it still names this experiment), put the new one (``attribute_not_exists``) and update
        META (if its name and stage are still what was read). A race on the experiment itself
        re-reads and retries; a taken name raises ExperimentNameTaken."""

        def read(_lost: Lost | None) -> dict[str, Any]:
            item = self.require(experiment_id)
            if item["lifecycle_stage"] != LifecycleStage.ACTIVE:
                raise ExperimentNotInStage(item["lifecycle_stage"])
            return item

        def write(item: dict[str, Any]) -> None:
            stage = item["lifecycle_stage"]
            old_name = item["name"]
            meta_condition = Attr("name").eq(old_name) & Attr("lifecycle_stage").eq(stage)
            set_meta = {
                "names": {"#u_name": "name", "#u_lut": "last_update_time"},
                "values": {":u_name": new_name, ":u_now": now},
            }
            if new_name == old_name:
                # SQL rewrites the same name and bumps last_update_time; the guard stays. A
                # failed condition (renamed or deleted meanwhile) is a lost race.
                self.gateway.update_item(
                    keys.experiment_key(experiment_id),
                    "SET #u_name = :u_name, #u_lut = :u_now",
                    condition=meta_condition,
                    **set_meta,
                )
                return
            actions = [
                self.gateway.tx_delete(
                    keys.experiment_name_key(workspace, old_name),
                    Attr("experiment_id").eq(experiment_id),
                ),
                self.gateway.tx_put(
                    {
                        **keys.experiment_name_key(workspace, new_name),
                        "experiment_id": experiment_id,
                    },
                    Attr("PK").not_exists(),
                ),
                self.gateway.tx_update(
                    keys.experiment_key(experiment_id),
                    "SET #u_name = :u_name, #u_lut = :u_now",
                    condition=meta_condition,
                    **set_meta,
                ),
            ]
            names = postings.moved(name_document(workspace, experiment_id), old_name, new_name)
            try:
                postings.transact_with_postings(self.gateway, actions, names)
            except TransactionCancelled as exc:
                if 1 in exc.failed_conditions():
                    raise ExperimentNameTaken(new_name) from None
                if not exc.is_condition_failure:
                    raise
                # The experiment changed under us (renamed/deleted): read it again.
                raise Conflict() from None

        try:
            optimistic(read, write, what=f"experiment {experiment_id}")
        except Contention:
            raise ExperimentBusy(experiment_id) from None

    # ---- tags (a map on META) ---------------------------------------------------------
    def set_tag(self, experiment_id: str, workspace: str, key: str, value: str) -> None:
        """One UpdateItem; only an active experiment of the workspace takes tags. An indexed
        key's entry goes in the same request (a TransactWriteItems of the two)."""
        update = (
            keys.experiment_key(experiment_id),
            "SET #u_tags.#u_key = :u_value",
        )
        names = {"#u_tags": "tags", "#u_key": key}
        values = {":u_value": value}
        if self.tag_values_indexed():
            entry = tag_index_keys.experiment_entry(workspace, experiment_id, key, value)
            indexed = value is not None and self.tag_indexed(key)
            extra = [self.gateway.tx_put(entry)] if indexed else []
            self._with_values(
                lambda: tag_values.ExperimentTagValues(self.gateway).set_tag(
                    experiment_id, workspace, key, value, extra
                ),
                experiment_id,
            )
            return
        if value is not None and self.tag_indexed(key):
            entry = tag_index_keys.experiment_entry(workspace, experiment_id, key, value)
            try:
                self.gateway.transact_write(
                    [
                        self.gateway.tx_update(
                            *update, names=names, values=values, condition=_active_in(workspace)
                        ),
                        self.gateway.tx_put(entry),
                    ]
                )
            except TransactionCancelled as exc:
                if exc.is_condition_failure:
                    raise self._why_not_active(experiment_id, None) from None
                raise
            return
        try:
            self.gateway.update_item(
                *update, names=names, values=values, condition=_active_in(workspace)
            )
        except ConditionFailed as exc:
            raise self._why_not_active(experiment_id, exc.item) from None
        except ItemTooLarge:
            raise ExperimentTooLarge(experiment_id) from None

    def delete_tag(self, experiment_id: str, workspace: str, key: str) -> None:
        """One UpdateItem: REMOVE of a missing map key is a no-op, and the old value returned
        (UPDATED_OLD) tells whether the key was there. With tag values trigram-indexed: the
        value's postings go in the same transaction (tag_values.ExperimentTagValues)."""
        if self.tag_values_indexed():
            entry_key = tag_index_keys.experiment_entry_key(experiment_id, key)
            extra = [self.gateway.tx_delete(entry_key)] if self.tag_indexed(key) else []
            self._with_values(
                lambda: tag_values.ExperimentTagValues(self.gateway).delete_tag(
                    experiment_id, workspace, key, extra
                ),
                experiment_id,
            )
            return
        try:
            old = self.gateway.update_item(
                keys.experiment_key(experiment_id),
                "REMOVE #u_tags.#u_key",
                names={"#u_tags": "tags", "#u_key": key},
                condition=_active_in(workspace),
                return_values="UPDATED_OLD",
            )
        except ConditionFailed as exc:
            raise self._why_not_active(experiment_id, exc.item) from None
        if key not in ((old or {}).get("tags") or {}):
            raise TagMissing(key)
        if self.tag_indexed(key):
            # after the tag: a crash in between leaves an entry the search's check on META
            # rejects, never a tag without its entry
            self.gateway.delete_item(tag_index_keys.experiment_entry_key(experiment_id, key))

    def _with_values(self, write: Callable[[], None], experiment_id: str) -> None:
        """A tag write with its value postings, its failures as the plain write's."""
        try:
            write()
        except tag_values.NotActive as exc:
            raise self._why_not_active(experiment_id, exc.item) from None
        except tag_values.TagAbsent as exc:
            raise TagMissing(str(exc)) from None
        except ItemTooLarge:
            raise ExperimentTooLarge(experiment_id) from None
        except Contention:
            raise ExperimentBusy(experiment_id) from None

    def _why_not_active(self, experiment_id: str, item: dict[str, Any] | None) -> Exception:
        if item is None:  # DynamoDB returns the old item only when it exists
            item = self.get(experiment_id)
        if item is None:
            return ExperimentMissing(experiment_id)
        return ExperimentNotInStage(item["lifecycle_stage"])


def _active_in(workspace: str):
    return Attr("workspace").eq(workspace) & Attr("lifecycle_stage").eq(LifecycleStage.ACTIVE)


def name_document(workspace: str, experiment_id: str) -> postings.Document:
    """The experiment's name in the trigram index (one workspace-wide posting list)."""
    return postings.Document(workspace, postings.EXPERIMENT_NAME, WORKSPACE_SCOPE, experiment_id)


def to_experiment(item: dict[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=item["experiment_id"],
        name=item["name"],
        artifact_location=item["artifact_location"],
        lifecycle_stage=item["lifecycle_stage"],
        tags=[ExperimentTag(k, v) for k, v in (item.get("tags") or {}).items()],
        creation_time=_int(item.get("creation_time")),
        last_update_time=_int(item.get("last_update_time")),
        workspace=item.get("workspace"),
    )


def _int(value: Decimal | int | None) -> int | None:
    return None if value is None else int(value)
