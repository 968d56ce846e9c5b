"""Runs: the META item (info, params, tags, latest metrics), its spilled values and the
LATEST rank items, written with optimistic locking on META's ``version``.

See docs/schema.md ("Runs") for the layout and docs/access-patterns.md for the costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.config.settings import SettingsSource
from mlflow_dynamodbstore.fts import field_postings, postings
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic, version_of
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository
from mlflow_dynamodbstore.repositories.runs.changes import (
    MetricPoint,
    RunChange,
    RunWrite,
    check_params,
    name_document,
    plan_change,
    split_change,
    stored_run_name,
)
from mlflow_dynamodbstore.repositories.runs.items import (
    IO_ITEMS_FLAG,
    apply_spilled,
    is_spilled,
    metric_entry_value,
)
from mlflow_dynamodbstore.repositories.runs.live import (
    LIVE_FLAG,
    has_live,
    is_live_item,
    live_key,
    live_metric_keys,
    merge_live,
    meta_and_live,
)
from mlflow_dynamodbstore.repositories.runs.live_step import LiveStep, Step
from mlflow_dynamodbstore.repositories.runs.metric_buffer import (
    latest_action,
)
from mlflow_dynamodbstore.repositories.runs.metric_update import (
    MAX_KEYS,
    replaces_condition,
)
from mlflow_dynamodbstore.repositories.runs.settle import settle_run
from mlflow_dynamodbstore.repositories.runs.step_gate import gate_closing_actions
from mlflow_dynamodbstore.repositories.runs.stepping import (
    IN_LIVE,
    MAX_LIVE_KEYS,
    STEP_MODE,
    announced_keys,
)
from mlflow_dynamodbstore.repositories.runs.value_postings import run_posting_keys
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]
# A run id longer than this cannot be one of ours (and would overflow a key).
_MAX_RUN_ID_LENGTH = 256
# Optimistic-lock attempts before giving up: every writer of a run (log_batch from many
# training workers) races for its one META, and a writer can keep losing to the others'
# next batches; 60 rather than the default 20 keeps test_concurrency_runs.py's 8 writers
# (and busier real ones) clear of TEMPORARILY_UNAVAILABLE.
_COMMIT_ATTEMPTS = 60
# Extra items (spills, LATEST items) per transaction: the limit less META and one spare.
TX_EXTRA_ITEMS = TRANSACTION_LIMIT - 2
# Runs this process remembers for the metric fast path (dropped whole when full, which
# costs one read per run afterwards).
_RUN_CACHE_SIZE = 100_000
# Actions before the LATEST updates in log_newer_metrics: META's and the experiment's
# checks, LIVE's update.
_FAST_PATH_CHECKS = 3
RUNNING = "RUNNING"


class RunMissing(Exception):
    """No such run in the active workspace."""


class RunNotActive(Exception):
    """The run (or its experiment) is not active; carries the effective lifecycle stage."""

    def __init__(self, run_id: str, lifecycle_stage: str):
        super().__init__(run_id, lifecycle_stage)
        self.run_id = run_id
        self.lifecycle_stage = lifecycle_stage


class RunContention(Exception):
    """Too many concurrent writers kept changing the run; the write was not applied."""


class RunIdTaken(Exception):
    """A run with this id exists already (a uuid4 collision)."""


def effective_run_lifecycle(run_item: Item, experiment_item: Item | None) -> tuple[str, int | None]:
    """(lifecycle_stage, deleted_time) as MLflow's SQL store would show them.

    The SQL store rewrites every run on delete_experiment (deleted, deleted_time=now) and on
    restore_experiment (active, deleted_time=None); here those stay O(1) and this function
    derives the same answer from the experiment's ``deleted_time``/``restored_time``.
    """
    stage = run_item.get("lifecycle_stage", LifecycleStage.ACTIVE)
    deleted_time = _int(run_item.get("deleted_time"))
    if experiment_item is None:
        return stage, deleted_time
    if experiment_item.get("lifecycle_stage") == LifecycleStage.DELETED:
        experiment_deleted = _int(experiment_item.get("deleted_time"))
        run_restored = _int(run_item.get("restored_time"))
        # restore_run after delete_experiment makes the SQL row active again.
        if (
            stage == LifecycleStage.ACTIVE
            and run_restored is not None
            and experiment_deleted is not None
            and run_restored > experiment_deleted
        ):
            return LifecycleStage.ACTIVE, None
        return LifecycleStage.DELETED, experiment_deleted
    experiment_restored = _int(experiment_item.get("restored_time"))
    if (
        stage == LifecycleStage.DELETED
        and experiment_restored is not None
        and (deleted_time is None or deleted_time <= experiment_restored)
    ):
        return LifecycleStage.ACTIVE, None
    return stage, deleted_time


class RunRepository:
    def __init__(
        self,
        gateway: TableGateway,
        experiments: ExperimentRepository,
        *,
        sleep: Callable[[float], None] = time.sleep,
        settings: SettingsSource | None = None,
    ):
        self.gateway = gateway
        self.experiments = experiments
        # tag globs to index (config/settings.py); None: no tag index entries are written
        self._settings = settings
        self._sleep = sleep
        # run id -> (experiment id, metric keys inline on META), filled by every META read
        # or write: the metric fast path (log_newer_metrics) builds rank keys from it
        # without reading META, and skips keys META cannot hold yet. Both only grow, so a
        # stale entry costs at most one refused transaction.
        self._known: dict[str, tuple[str, bool]] = {}
        # run id -> the keys this process announced (or saw announced) for the run's steps
        self._announced: dict[str, frozenset[str]] = {}
        self._live_step = LiveStep(gateway)

    def _remember(self, meta: Item) -> None:
        if len(self._known) >= _RUN_CACHE_SIZE:
            self._known.clear()
            self._announced.clear()
        self._known[meta["run_id"]] = (str(meta["experiment_id"]), bool(meta.get(STEP_MODE)))

    # ---- create / read ---------------------------------------------------------------
    def create(self, meta: Item, tags: dict[str, str]) -> Item:
        """Write a new run: META (``attribute_not_exists``, empty maps, version 1, in step
        mode) with its tags and its empty LIVE item, in one TransactWriteItems (with any
        spilled tag value). Returns META with spilled values filled in."""
        base = {
            **keys.run_key(meta["run_id"]),
            **keys.run_list_keys(meta["experiment_id"], meta.get("start_time"), meta["run_id"]),
            **{k: v for k, v in meta.items() if v is not None},
            "params": {},
            "tags": {},
            "metrics": {},
            IO_ITEMS_FLAG: False,
            "version": 0,
        }
        indexed = self.tag_indexed(meta["experiment_id"])
        write = plan_change(
            base, RunChange(tags=tags), self.fetch, indexed, self.value_fields()
        ) or RunWrite(base)
        write.meta["version"] = 1
        # A new run steps through LIVE from its first metric (stepping.py): no META write
        # (nor its GSI1 listing entry) on its training steps.
        write.meta[LIVE_FLAG] = True
        write.meta[STEP_MODE] = write.meta.get("status") == RUNNING
        condition = Attr("PK").not_exists()
        try:
            postings.transact_with_postings(
                self.gateway,
                [
                    self.gateway.tx_put(write.meta, condition),
                    self._create_live(meta["run_id"]),
                    *(self.gateway.tx_put(item) for item in write.puts),
                ],
                write.names,
            )
        except (ConditionFailed, TransactionCancelled) as exc:
            if isinstance(exc, TransactionCancelled) and not exc.is_condition_failure:
                raise
            raise RunIdTaken(meta["run_id"]) from None
        self._remember(write.meta)
        return apply_spilled(write.meta, write.puts)

    def mark_io_items(self, meta: Item) -> None:
        """Say in META, before a run's first dataset input or model input/output item is
        written, that its partition holds such items: search results read the partition of
        such runs only (and of runs from before the flag, which lack it). One UpdateItem,
        only when the flag is False; it bumps ``version`` so a writer holding an older META
        re-reads instead of putting the flag back."""
        if meta.get(IO_ITEMS_FLAG) is not False:
            return
        self.gateway.update_item(
            keys.run_key(meta["run_id"]),
            "SET #uf = :ut ADD #uv :uone",
            names={"#uf": IO_ITEMS_FLAG, "#uv": "version"},
            values={":ut": True, ":uone": 1},
            condition=Attr("PK").exists(),
        )

    def get_meta(self, run_id: str) -> Item:
        """The META item (consistent read); RunMissing if absent (or of another workspace:
        the scoped gateway hides those)."""
        if not _plausible_run_id(run_id):
            raise RunMissing(run_id)
        item = self.gateway.get_item(keys.run_key(run_id))
        if item is None:
            raise RunMissing(run_id)
        self._remember(item)
        return item

    def get_meta_with_live(self, run_id: str) -> tuple[Item, Item | None]:
        """META and the run's LIVE item in one consistent BatchGetItem (RunMissing as
        get_meta)."""
        if not _plausible_run_id(run_id):
            raise RunMissing(run_id)
        meta, live = meta_and_live(self.gateway, run_id)
        if meta is None:
            raise RunMissing(run_id)
        self._remember(meta)
        return meta, live

    def get_partition(self, run_id: str) -> tuple[Item, list[Item]]:
        """META with its spilled params/tags resolved and its LIVE entries merged (live.py),
        plus the run's other items (inputs, outputs): one consistent Query on the run
        partition (more pages only past 1 MB), and a BatchGetItem only for metrics spilled
        out of a full META."""
        if not _plausible_run_id(run_id):
            raise RunMissing(run_id)
        items = list(self.gateway.query(Key("PK").eq(keys.run_pk(run_id)), consistent=True))
        meta = next((i for i in items if i["SK"] == keys.META), None)
        if meta is None:
            raise RunMissing(run_id)
        self._remember(meta)
        live = next((i for i in items if is_live_item(i)), None)
        meta = merge_live(meta, live) if has_live(meta) else meta
        spill_prefixes = (keys.PARAM_PREFIX, keys.RUN_TAG_PREFIX)
        spilled = [i for i in items if i["SK"].startswith(spill_prefixes)]
        others = [
            i
            for i in items
            if i["SK"] != keys.META
            and not is_live_item(i)
            and not i["SK"].startswith(spill_prefixes)
        ]
        spilled_metrics = [
            keys.metric_latest_key(run_id, k)
            for k, v in meta.get("metrics", {}).items()
            if is_spilled(v)
        ]
        if spilled_metrics:
            spilled += self.gateway.batch_get(spilled_metrics, consistent=True)
        return apply_spilled(meta, spilled), others

    def experiment_of(self, meta: Item) -> Item | None:
        return self.experiments.get(str(meta["experiment_id"]))

    def check_active(self, meta: Item, experiment: Item | None) -> None:
        stage, _ = effective_run_lifecycle(meta, experiment)
        if stage != LifecycleStage.ACTIVE:
            raise RunNotActive(meta["run_id"], stage)

    def get_active_meta(self, run_id: str) -> tuple[Item, Item | None]:
        """META and its experiment, checking the run is (effectively) active: 2 GetItem."""
        meta = self.get_meta(run_id)
        experiment = self.experiment_of(meta)
        self.check_active(meta, experiment)
        return meta, experiment

    # ---- garbage collection (``mlflow gc``; admin paths, not request paths) ----------
    def deleted_run_ids(self, workspace: str, deleted_before: int) -> list[str]:
        """Runs of the workspace whose effective lifecycle is deleted since at most
        ``deleted_before``: a GSI1 walk over every experiment's runs (O(all runs), like the
        SQL store's query)."""
        found = []
        for experiment in self.experiments.list_in_workspace(workspace):
            runs = self.gateway.query(
                indexes.RUNS_BY_START_TIME.pk_eq(
                    keys.runs_gsi1pk(str(experiment["experiment_id"]))
                ),
                index=indexes.RUNS_BY_START_TIME.index,
            )
            for run in runs:
                stage, deleted_time = effective_run_lifecycle(run, experiment)
                if stage == LifecycleStage.DELETED and (deleted_time or 0) <= deleted_before:
                    found.append(run["run_id"])
        return found

    def metric_keys(self, run_id: str) -> list[str]:
        """Keys of the metrics the run has logged (each has a history partition), in META
        and in LIVE (keys logged only by training steps)."""
        meta = self.get_meta(run_id)
        return sorted({*meta.get("metrics", {}), *live_metric_keys(self.gateway, meta)})

    def delete_partition(self, run_id: str) -> None:
        """Delete the run partition (META, spilled values, inputs, outputs): 1 Query +
        ⌈items / 25⌉ BatchWriteItem."""
        items = list(self.gateway.query(Key("PK").eq(keys.run_pk(run_id)), consistent=True))
        names: list[Item] = []
        meta = next((i for i in items if i["SK"] == keys.META), None)
        if meta is not None:
            by_sk = {i["SK"]: i for i in items}
            name = stored_run_name(
                meta, lambda want: [by_sk[w["SK"]] for w in want if w["SK"] in by_sk]
            )
            names = postings.removed(name_document(meta), name).deletes
            names += run_posting_keys(
                meta,
                lambda want: [by_sk[w["SK"]] for w in want if w["SK"] in by_sk],
                self.value_fields(),
            )
        self.gateway.batch_write(deletes=[*({"PK": i["PK"], "SK": i["SK"]} for i in items), *names])

    # ---- writes ----------------------------------------------------------------------
    def log_newer_metrics(
        self,
        run_id: str,
        workspace: str,
        metrics: dict[str, MetricPoint],
        extra_puts: list[Item],
        recent: dict[str, list[bytes]] | None = None,
    ) -> bool:
        """Record ``metrics`` (the best new point per key) as one training step through
        the run's LIVE item (live_step.py), without reading or writing META: ``recent``
        holds each key's packed points for LIVE's buffers, or None (a metric-history
        retention: ``extra_puts`` are the points, items with their ``ttl``). False (nothing
        written) when the step does not apply; the caller then takes the read-plan-write
        path (``commit``), which gives the exact answer or error."""
        experiment_id, step_mode = self._known.get(run_id, (None, False))
        if (
            experiment_id is None
            or not step_mode
            or not metrics
            or len(metrics) > MAX_KEYS
            or 2 * len(metrics) + len(extra_puts) + _FAST_PATH_CHECKS > TRANSACTION_LIMIT
        ):
            return False
        announced = self._announced.get(run_id, frozenset())
        if len(announced | frozenset(metrics)) > MAX_LIVE_KEYS:
            return False  # LIVE admits so many keys (AWS bills its whole size every step)
        step = Step(run_id, workspace, experiment_id, metrics, recent, extra_puts, announced)
        if not self._live_step.write(step):
            # an announcement this process believed in may be gone (the run was settled):
            # the next step announces again (idempotent)
            self._announced.pop(run_id, None)
            return False
        self._announced[run_id] = announced | frozenset(metrics)
        return True

    def commit(
        self,
        run_id: str,
        change: RunChange,
        *,
        require_active: bool = True,
        read: tuple[Item, Item | None] | None = None,
    ) -> Item:
        """Apply ``change`` with optimistic locking and return the new META.

        Each part of the change (one unless it moves more than ~98 extra items) is one
        conditional PutItem of META (``version`` = the version read), or one
        TransactWriteItems with its spilled values and LATEST items. Losing a race re-reads
        META (1 GetItem) and re-plans; domain errors (ParamConflict, TagMissing,
        RunNotActive) surface from the first read that shows them.
        """
        if read is None:
            meta = self.get_meta(run_id)
            experiment = self.experiment_of(meta) if require_active else None
        else:
            meta, experiment = read
        if require_active:
            self.check_active(meta, experiment)
        parts = [change]
        if change.size > TX_EXTRA_ITEMS:
            # Split only when the items that move (not the entries) overflow a transaction.
            planned = plan_change(meta, change, self.fetch, self.tag_indexed(meta["experiment_id"]))
            if planned is not None and len(planned.puts) + len(planned.deletes) > TX_EXTRA_ITEMS:
                parts = split_change(change, TX_EXTRA_ITEMS)
                check_params(meta, change.params, self.fetch)
        for part in parts:
            meta = self._commit_part(run_id, part, meta, experiment, require_active)
        return meta

    def _commit_part(
        self,
        run_id: str,
        change: RunChange,
        meta: Item,
        experiment: Item | None,
        require_active: bool,
    ) -> Item:
        def read(lost: Lost | None) -> Item:
            nonlocal lost_once
            if lost is None:
                return meta
            lost_once = True
            # A failed PutItem returns the item that beat us (the scoped gateway only returns
            # it in its own workspace): no re-read needed then.
            fresh = lost.item if lost.item is not None else self.get_meta(run_id)
            if require_active:
                self.check_active(fresh, experiment)
            return fresh

        lost_once = False

        def write(read_meta: Item) -> Item:
            base, create_live, announced = read_meta, False, frozenset()
            if change.metrics:
                if not has_live(read_meta):
                    create_live = True  # this write gives the run its LIVE item
                elif lost_once or read_meta.get(STEP_MODE):
                    # training steps may hold newer points in LIVE (a LATEST guard failed,
                    # or the run steps through LIVE): plan against META merged with LIVE
                    live = self.gateway.get_item(live_key(run_id))
                    base = merge_live(read_meta, live)
                    announced = frozenset(announced_keys(live))
            indexed = self.tag_indexed(base["experiment_id"])
            planned = plan_change(base, change, self.fetch, indexed, self.value_fields())
            if planned is None:
                self.gateway.batch_write(change.extra_puts)  # nothing else to write with
                return base
            if create_live and planned.replaced:
                planned.meta[LIVE_FLAG] = True
            else:
                create_live = False
            if (
                planned.replaced
                and planned.meta.get(LIVE_FLAG)
                and planned.meta.get("status") == RUNNING
                and not planned.meta.get(STEP_MODE)
            ):
                planned.meta[STEP_MODE] = True  # its next steps write LIVE only
            written, current = self._try_write(base, planned, create_live, announced)
            if not written:
                raise Conflict(current)
            self._remember(planned.meta)
            return planned.meta

        try:
            return optimistic(
                read, write, what=f"run {run_id}", attempts=_COMMIT_ATTEMPTS, sleep=self._sleep
            )
        except Contention:
            raise RunContention(run_id) from None

    def _try_write(
        self,
        meta: Item,
        write: RunWrite,
        create_live: bool = False,
        announced: frozenset[str] = frozenset(),
    ) -> tuple[bool, Item | None]:
        """Write the plan if META is still at the version read and each LATEST item it
        updates still holds what the plan compared with (a training step may have moved it
        through LIVE, live.py); with ``create_live``, create the run's LIVE item too. (False,
        current META if DynamoDB returned it) when either moved on."""
        version = version_of(meta)
        write.meta["version"] = version.next
        condition = version.condition
        extra = [self._create_live(meta["run_id"])] if create_live else []
        extra += gate_closing_actions(self.gateway, meta, write.meta)
        try:
            if not write.puts and not write.deletes and not write.names and not extra:
                self.gateway.put_item(write.meta, condition=condition)
            else:
                postings.transact_with_postings(
                    self.gateway,
                    [
                        self.gateway.tx_put(write.meta, condition),
                        *extra,
                        # LATEST items are updated, not put: their buffered points stay
                        *(self._latest_write(item, write, announced) for item in write.puts),
                        *(self.gateway.tx_delete(key) for key in write.deletes),
                    ],
                    write.names,
                )
        except ConditionFailed as exc:
            return False, exc.item
        except TransactionCancelled as exc:
            if exc.is_condition_failure or exc.has_conflict:
                return False, None
            raise
        return True, None

    def _latest_write(self, item: Item, write: RunWrite, announced: frozenset[str]) -> dict:
        """A LATEST item's update: for a key stepping through LIVE (announced), its value
        only (its rank entry stays in the ``~S#`` range) on condition that it still is;
        else value and rank keys on condition that no step announced it since."""
        if item.get("SK") != keys.METRIC_LATEST_SK or item["key"] not in write.replaced:
            return latest_action(self.gateway, item)
        names = {"#nil": IN_LIVE}
        if item["key"] in announced:
            pk_name, sk_name = indexes.RUNS_BY_METRIC.key_attributes
            value_only = {k: v for k, v in item.items() if k not in (pk_name, sk_name)}
            return latest_action(self.gateway, value_only, ("attribute_exists(#nil)", names, {}))
        point = (metric_entry_value(item), item["timestamp"], item["step"])
        expression, more_names, values = replaces_condition("n", point, write.replaced[item["key"]])
        guard = (f"({expression}) AND attribute_not_exists(#nil)", {**more_names, **names}, values)
        return latest_action(self.gateway, item, guard)

    # ---- settling a run that stepped through LIVE (stepping.py) -----------------------
    def settle(self, run_id: str) -> None:
        """Put the run's announced keys back in the value order after the META write that
        ended it (settle.py)."""
        if not settle_run(self.gateway, run_id):
            raise RunContention(run_id)

    def _create_live(self, run_id: str) -> dict:
        """The run's LIVE item, empty (kept as is if it exists)."""
        return self.gateway.tx_update(
            live_key(run_id),
            "SET #lm = if_not_exists(#lm, :lempty), #lr = :lrun",
            names={"#lm": "metrics", "#lr": "run_id"},
            values={":lempty": {}, ":lrun": run_id},
        )

    def tag_indexed(self, experiment_id: Any) -> Callable[[str], bool] | None:
        """Which tag keys of this experiment's runs get tag index entries (the settings in
        force now: the table's globs plus the experiment's)."""
        if self._settings is None:
            return None
        settings = self._settings.current()
        experiment = str(experiment_id)
        return lambda key: settings.indexes_tag(experiment, key)

    def value_fields(self) -> tuple[str, ...]:
        """The configured value fields (run tag / param values) whose postings run writes
        maintain (the settings in force now)."""
        if self._settings is None:
            return ()
        return field_postings.configured(self._settings.current().fts_trigram_fields)

    def fetch(self, wanted: list[Item]) -> list[Item]:
        return self.gateway.batch_get(wanted, consistent=True)


def _plausible_run_id(run_id: Any) -> bool:
    return isinstance(run_id, str) and 0 < len(run_id) <= _MAX_RUN_ID_LENGTH


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
