"""Scorers: a head item per (experiment, name) and one item per version, plus the scorer's
online scoring config (keys in schema/scorer_keys.py, layout in docs/scorers.md).

The head's ``latest`` is the highest version that exists (0 once every version was deleted
one by one, as the SQL store keeps its ``scorers`` row then) and acts as the scorer's
version counter: every write that changes the set of versions is one transaction
conditioned on the ``latest`` (and ``scorer_id``) it read, so two servers registering at
once can never both write the same number; the loser re-reads and takes the next one.
The head also keeps a copy of the latest version, so reading "the latest" is one GetItem
and listing an experiment's scorers one Query.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic
from mlflow_dynamodbstore.schema import indexes, keys, table
from mlflow_dynamodbstore.schema import scorer_keys as sk

Item = dict[str, Any]

# Compressed scorer bytes per item: the head holds a copy of the latest version beside its
# own attributes, and both stay well below DynamoDB's 400 KB.
MAX_SCORER_BYTES = 300_000
# Scorer ids we could have issued are uuid4 strings; anything far longer cannot be a key.
_MAX_ID_BYTES = 1000


class ScorerMissing(Exception):
    """No scorer of that name in the experiment (or it has no version left)."""


class ScorerVersionMissing(Exception):
    """The scorer exists but not that version."""


class ScorerTooLarge(Exception):
    """The serialized scorer does not fit in an item, even compressed."""


class ExperimentInactive(Exception):
    """The experiment was deleted between the caller's check and the write."""


class ScorerBusy(Exception):
    """Concurrent writers kept this write from going through."""


def _pack(serialized: str) -> bytes:
    packed = zlib.compress(serialized.encode("utf-8"))
    if len(packed) > MAX_SCORER_BYTES:
        raise ScorerTooLarge(len(packed))
    return packed


def unpack(item: Item) -> str:
    return zlib.decompress(bytes(item["z"])).decode("utf-8")


def _lost(exc: TransactionCancelled) -> Conflict:
    return Conflict(message=str(exc))


class ScorerRepository:
    def __init__(self, gateway):
        self.gateway = gateway

    # ---- reads -----------------------------------------------------------------------
    def head(self, experiment_id: str, name: str) -> Item | None:
        return self.gateway.get_item(sk.scorer_head_key(experiment_id, name))

    def heads(self, experiment_id: str) -> list[Item]:
        """The experiment's scorers (head items), strongly consistent."""
        condition = Key(table.PK).eq(sk.experiment_scorers_pk(experiment_id)) & Key(
            table.SK
        ).begins_with(sk.SCORER_HEAD_PREFIX)
        return list(self.gateway.query(condition, consistent=True))

    def heads_in_workspace(self, workspace: str) -> list[Item]:
        """Every scorer head of the workspace (GSI1: may lag its table by about a second)."""
        listing = indexes.SCORERS_BY_WORKSPACE
        return list(
            self.gateway.query(listing.pk_eq(sk.scorers_gsi1pk(workspace)), index=listing.index)
        )

    def versions(self, scorer_id: str) -> list[Item]:
        """Every version item of a scorer, oldest first."""
        if not _plausible_id(scorer_id):
            return []
        condition = Key(table.PK).eq(sk.scorer_pk(scorer_id)) & Key(table.SK).begins_with(
            sk.SCORER_VERSION_PREFIX
        )
        return list(self.gateway.query(condition, consistent=True))

    def version(self, scorer_id: str, version: int) -> Item | None:
        if not _plausible_id(scorer_id) or version < 1:
            return None
        return self.gateway.get_item(sk.scorer_version_key(scorer_id, version))

    def latest_version(self, scorer_id: str) -> Item | None:
        """The highest version item of a scorer, by id (one Query, newest first, 1 item)."""
        if not _plausible_id(scorer_id):
            return None
        condition = Key(table.PK).eq(sk.scorer_pk(scorer_id)) & Key(table.SK).begins_with(
            sk.SCORER_VERSION_PREFIX
        )
        items, _ = self.gateway.query_page(condition, forward=False, limit=1, consistent=True)
        return items[0] if items else None

    def _previous(self, scorer_id: str, version: int) -> Item | None:
        """The highest version below ``version``, if any."""
        if version <= 1:
            return None
        condition = Key(table.PK).eq(sk.scorer_pk(scorer_id)) & Key(table.SK).between(
            sk.scorer_version_sk(1), sk.scorer_version_sk(version - 1)
        )
        items, _ = self.gateway.query_page(condition, forward=False, limit=1, consistent=True)
        return items[0] if items else None

    def online_configs(self, scorer_ids: Iterable[str]) -> list[Item]:
        """The online config items of these scorers (one BatchGetItem per 100 ids), in the
        order the ids were given."""
        wanted = [i for i in dict.fromkeys(scorer_ids) if _plausible_id(i)]
        found = {
            item["scorer_id"]: item
            for item in self.gateway.batch_get(
                [sk.online_config_key(i) for i in wanted], consistent=True
            )
        }
        return [found[i] for i in wanted if i in found]

    def active_online(self, workspace: str) -> list[tuple[Item, Item]]:
        """(config, head) of each config with sample_rate > 0 whose scorer has a version.

        The listing is GSI1 (eventually consistent); the configs and heads it names are
        then read strongly consistently in one BatchGetItem per 50 configs, so a config
        turned off or a scorer deleted a moment ago is not returned."""
        listing = indexes.ACTIVE_ONLINE_SCORERS
        listed = list(
            self.gateway.query(
                listing.pk_eq(sk.active_online_scorers_gsi1pk(workspace)), index=listing.index
            )
        )
        if not listed:
            return []
        keys: list[Item] = []
        for config in listed:
            keys.append(sk.online_config_key(config["scorer_id"]))
            keys.append(sk.scorer_head_key(config["experiment_id"], config["scorer_name"]))
        fresh = {(i["PK"], i["SK"]): i for i in self.gateway.batch_get(keys, consistent=True)}
        result = []
        for config in listed:
            key = sk.online_config_key(config["scorer_id"])
            current = fresh.get((key["PK"], key["SK"]))
            head_key = sk.scorer_head_key(config["experiment_id"], config["scorer_name"])
            head = fresh.get((head_key["PK"], head_key["SK"]))
            if current is None or head is None or current.get(listing.pk) is None:
                continue
            if head["scorer_id"] != current["scorer_id"] or int(head["latest"]) == 0:
                continue
            result.append((current, head))
        return result

    # ---- register --------------------------------------------------------------------
    def register(
        self, *, experiment_id: str, name: str, workspace: str, serialized: str, now: int
    ) -> Item:
        """Write the next version of the scorer (creating it at version 1); returns the
        version item."""
        packed = _pack(serialized)
        head_key = sk.scorer_head_key(experiment_id, name)

        def read(_lost: Lost | None) -> Item | None:
            return self.gateway.get_item(head_key)

        def write(head: Item | None) -> Item:
            if head is None:
                scorer_id, version = str(uuid.uuid4()), 1
                head_condition = Attr("PK").not_exists()
            else:
                scorer_id, version = head["scorer_id"], int(head["latest"]) + 1
                head_condition = _unchanged(head)
            version_item = {
                **sk.scorer_version_key(scorer_id, version),
                "scorer_id": scorer_id,
                "experiment_id": experiment_id,
                "scorer_name": name,
                "workspace": workspace,
                "version": version,
                "creation_time": now,
                "z": packed,
            }
            new_head = {
                **head_key,
                **sk.scorer_list_keys(workspace, experiment_id, name),
                "scorer_id": scorer_id,
                "experiment_id": experiment_id,
                "scorer_name": name,
                "workspace": workspace,
                **_latest_fields(version_item),
            }
            try:
                self.gateway.transact_write(
                    [
                        self.gateway.tx_put(new_head, head_condition),
                        self.gateway.tx_put(version_item, Attr("PK").not_exists()),
                        # the experiment is still active (checked by the caller a moment ago)
                        self.gateway.tx_check(
                            keys.experiment_key(experiment_id),
                            Attr("lifecycle_stage").eq(LifecycleStage.ACTIVE),
                        ),
                    ]
                )
            except TransactionCancelled as exc:
                if exc.failed_conditions() == [2]:
                    raise ExperimentInactive(experiment_id) from None
                raise _lost(exc) from None
            return version_item

        return self._optimistic(read, write, f"scorer {name}")

    # ---- delete ----------------------------------------------------------------------
    def delete_version(self, experiment_id: str, name: str, version: int) -> None:
        head_key = sk.scorer_head_key(experiment_id, name)

        def read(_lost: Lost | None) -> Item:
            head = self.gateway.get_item(head_key)
            if head is None:
                raise ScorerMissing(name)
            return head

        def write(head: Item) -> None:
            scorer_id, latest = head["scorer_id"], int(head["latest"])
            if not 1 <= version <= latest:
                raise ScorerVersionMissing(version)
            drop = self.gateway.tx_delete(
                sk.scorer_version_key(scorer_id, version), Attr("PK").exists()
            )
            if version < latest:
                # The head must still name a later latest version (so this one cannot have
                # become the latest, copied into the head, meanwhile).
                actions = [drop, self.gateway.tx_check(head_key, _unchanged(head))]
            else:
                previous = self._previous(scorer_id, version)
                new_head = {k: v for k, v in head.items() if k not in _LATEST_ATTRIBUTES}
                new_head.update(_latest_fields(previous) if previous else {"latest": 0})
                actions = [drop, self.gateway.tx_put(new_head, _unchanged(head))]
                if previous is not None:
                    actions.append(self.gateway.tx_check(_key(previous), Attr("PK").exists()))
            try:
                self.gateway.transact_write(actions)
            except TransactionCancelled as exc:
                if exc.failed_conditions() == [0]:
                    raise ScorerVersionMissing(version) from None
                raise _lost(exc) from None

        self._optimistic(read, write, f"scorer {name}")

    def delete_all(self, experiment_id: str, name: str) -> str:
        """Delete the scorer: its versions, its online config, then its head; returns its
        id. A scorer whose versions were all deleted one by one is 'not found' here, as in
        SQL."""
        head_key = sk.scorer_head_key(experiment_id, name)

        def read(_lost: Lost | None) -> Item:
            head = self.gateway.get_item(head_key)
            if head is None or int(head["latest"]) == 0:
                raise ScorerMissing(name)
            return head

        def write(head: Item) -> str:
            scorer_id = head["scorer_id"]
            online = sk.online_config_key(scorer_id)
            versions = [
                _key(c)
                for c in self.gateway.query(
                    Key(table.PK).eq(sk.scorer_pk(scorer_id)), consistent=True
                )
                if c["SK"] != online["SK"]
            ]
            # The config is deleted in the head's transaction whether it was read or not, so
            # an upsert racing this delete either lands before it (and goes) or fails its
            # check of the head.
            final = [
                self.gateway.tx_delete(head_key, _unchanged(head)),
                self.gateway.tx_delete(online),
            ]
            if len(versions) + len(final) <= TRANSACTION_LIMIT:
                final += [self.gateway.tx_delete(v) for v in versions]
            else:
                # Too many versions for one transaction: versions first, so deleting again
                # finishes an interrupted deletion (the head still lists the scorer).
                self.gateway.batch_write(deletes=versions)
            try:
                self.gateway.transact_write(final)
            except TransactionCancelled as exc:
                raise _lost(exc) from None
            return scorer_id

        return self._optimistic(read, write, f"scorer {name}")

    # ---- online scoring config -------------------------------------------------------
    def put_online_config(
        self,
        head: Item,
        *,
        experiment_id: str,
        sample_rate: float,
        filter_string: str | None,
        now: int,
    ) -> Item:
        """Replace the scorer's online config (a new id, as the SQL store's delete + insert),
        listed as active while ``sample_rate > 0``; conditioned on the scorer still being
        the one read."""
        config_id = uuid.uuid4().hex
        config = {
            **sk.online_config_key(head["scorer_id"]),
            "online_scoring_config_id": config_id,
            "scorer_id": head["scorer_id"],
            "scorer_name": head["scorer_name"],
            "experiment_id": experiment_id,
            "workspace": head["workspace"],
            "sample_rate": Decimal(repr(float(sample_rate))),
            "updated": now,
        }
        if filter_string is not None:
            config["filter_string"] = filter_string
        if sample_rate > 0:
            config.update(sk.active_online_scorer_list_keys(head["workspace"], now, config_id))
        head_key = {"PK": head["PK"], "SK": head["SK"]}
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_put(config),
                    self.gateway.tx_check(head_key, Attr("scorer_id").eq(head["scorer_id"])),
                ]
            )
        except TransactionCancelled as exc:
            if exc.failed_conditions() == [1]:
                raise ScorerMissing(head["scorer_name"]) from None
            # concurrent transactions on the config kept conflicting (the gateway retried)
            raise ScorerBusy(head["scorer_name"]) from None
        return config

    # ---- helpers ---------------------------------------------------------------------
    def _optimistic(self, read, write, what: str):
        try:
            return optimistic(read, write, what=what)
        except Contention:
            raise ScorerBusy(what) from None


_LATEST_ATTRIBUTES = ("latest", "latest_creation_time", "z")


def _latest_fields(version_item: Item) -> Item:
    return {
        "latest": int(version_item["version"]),
        "latest_creation_time": int(version_item["creation_time"]),
        "z": version_item["z"],
    }


def _unchanged(head: Item):
    """The head still names the scorer and the latest version that were read."""
    return Attr("scorer_id").eq(head["scorer_id"]) & Attr("latest").eq(int(head["latest"]))


def _key(item: Item) -> Item:
    return {"PK": item["PK"], "SK": item["SK"]}


def _plausible_id(scorer_id: Any) -> bool:
    return isinstance(scorer_id, str) and 0 < len(scorer_id.encode("utf-8")) <= _MAX_ID_BYTES
