"""Option D's training step (issue #20, stepping.py): a step writes the run's LIVE item only.

A steady step (every key already announced) is one conditional UpdateItem of LIVE when the
run's step gate is open for the step's workspace (schema/step_gate_keys.py): each key's
entry on condition that the stored one is absent or older in (step, timestamp), the key's
points appended to its buffer (``P#<key>``), ``buffered`` raised on condition that the
buffers have room, ``version`` + 1. A refusal returns LIVE as it stands (no read): a closed
gate sends the step to the transaction; full buffers are flushed from that copy.

The transaction checks META (workspace, active, ``STEP_MODE``, ``live_metrics``, none of
the step's keys spilled) and the experiment (active, no delete closing its gates), updates
LIVE the same way and opens the gate, and lists the run in the experiment's gate list. A
key the run has not stepped through LIVE before is announced in it (its LATEST item gets
``IN_LIVE`` and the ``~S#`` rank entry; ``announced`` grows, bounded by
``MAX_LIVE_KEYS``); a key the writer believes announced is checked to be (``contains``).
When only the room failed, the writer flushes: it writes each key's buffer as a block
``ML#<flush seq>#…`` and retries with the buffers replaced on condition that LIVE's
version is the one read. Anything else refused (an older point, a spilled key, a run not
in step mode...) returns False: the caller takes the read-plan-write path, which decides
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.repositories.runs.changes import MetricPoint
from mlflow_dynamodbstore.repositories.runs.items import SPILLED, metric_entry
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG, LIVE_METRICS, LIVE_VERSION
from mlflow_dynamodbstore.repositories.runs.metric_history import live_flushed_items
from mlflow_dynamodbstore.repositories.runs.stepping import (
    BUFFER_POINTS,
    IN_LIVE,
    LIVE_ANNOUNCED,
    LIVE_BUFFERED,
    LIVE_FLUSH_SEQ,
    MAX_LIVE_KEYS,
    STEP_MODE,
    announced_keys,
    flush_seq,
)
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.live_step_keys import (
    buffer_key_of,
    live_buffer_attribute,
    stepping_rank_keys,
)
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.step_gate_keys import CLOSING_GATES, GATE, gate_entry

Item = dict[str, Any]
# The LIVE update is the third action (after META's and the experiment's checks).
_LIVE_ACTION = 2


@dataclass
class Step:
    run_id: str
    workspace: str
    experiment_id: str
    metrics: dict[str, MetricPoint]  # the best new point per key
    recent: dict[str, list[bytes]] | None  # packed points per key (None: no buffering)
    extra_puts: list[Item] = field(default_factory=list)  # history items (with a ttl)
    announced: frozenset[str] = frozenset()  # keys the writer believes announced


@dataclass(frozen=True)
class _Replace:
    """A retried step after a flush: LIVE's version read, the new flush number, and every
    buffer attribute LIVE held (all emptied but the step's own)."""

    version: int
    seq: int
    buffers: tuple[str, ...]


@dataclass
class _Expression:
    """LIVE's update: its expression, placeholders and condition parts."""

    sets: list[str]
    adds: list[str]
    conditions: list[str]
    names: dict[str, str]
    values: dict[str, Any]

    @property
    def update(self) -> str:
        return "SET " + ", ".join(self.sets) + " ADD " + ", ".join(self.adds)

    @property
    def condition(self) -> str:
        return " AND ".join(self.conditions)


class LiveStep:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def write(self, step: Step) -> bool:
        """True when the step is written (nothing else to do); False when it does not
        apply (nothing written)."""
        if not step.extra_puts and set(step.metrics) <= step.announced:
            through_gate = self._through_gate(step, None)
            if through_gate is not None:
                return through_gate
        try:
            self.gateway.transact_write(self._actions(step, None))
            return True
        except TransactionCancelled as exc:
            if exc.failed_conditions() != [_LIVE_ACTION] or step.recent is None:
                return False
        live = self.gateway.get_item(live_key(step.run_id))
        if live is None or not self._only_full(step, live):
            return False
        replace = self._flush(step.run_id, live)
        try:
            self.gateway.transact_write(self._actions(step, replace))
        except TransactionCancelled:
            return False  # another writer moved LIVE since the read: the exact path
        return True

    def _through_gate(self, step: Step, replace: _Replace | None) -> bool | None:
        """The step as one UpdateItem of LIVE behind its gate: True written, False not
        applicable (the exact path), None the gate is not open for the step's workspace
        (the transaction checks META and the experiment, and opens it)."""
        expression = self._live_expression(step, list(step.metrics), [], replace)
        expression.names["#g"] = GATE
        expression.values[":gws"] = step.workspace
        expression.conditions.insert(0, "#g = :gws")
        try:
            self.gateway.update_item(
                live_key(step.run_id),
                expression.update,
                names=expression.names,
                values=expression.values,
                condition_expression=expression.condition,
            )
            return True
        except ConditionFailed as exc:
            live, retried = exc.item, exc.retried
        if live is None:
            return False
        if retried and self._holds(step, live):
            return True  # an earlier attempt was applied and its answer lost
        if live.get(GATE) != step.workspace:
            return None
        if replace is not None or step.recent is None or not self._only_full(step, live):
            return False
        # DynamoDB returned LIVE with the refusal: flush from that copy, no read
        return self._through_gate(step, self._flush(step.run_id, live)) is True

    @staticmethod
    def _holds(step: Step, live: Item) -> bool:
        """Whether LIVE holds every key of the step at the step's point (it was applied)."""
        entries = live.get(LIVE_METRICS) or {}
        for key, (value, timestamp, step_no) in step.metrics.items():
            stored = entries.get(key)
            if stored is None or stored != metric_entry(value, timestamp, step_no):
                return False
        return True

    def _only_full(self, step: Step, live: Item) -> bool:
        """Whether the buffers' room is what refused the step (not an older point or an
        announcement that is not there)."""
        if not step.announced <= announced_keys(live):
            return False
        entries = live.get(LIVE_METRICS) or {}
        for key, (_, timestamp, step_no) in step.metrics.items():
            stored = entries.get(key)
            if stored is not None and (int(stored["step"]), int(stored["timestamp"])) >= (
                int(step_no),
                int(timestamp),
            ):
                return False
        return True

    def _flush(self, run_id: str, live: Item) -> _Replace:
        """Every buffer of ``live`` as blocks of flush number ``flush_seq + 1``."""
        seq = flush_seq(live) + 1
        self.gateway.batch_write(live_flushed_items(run_id, live, seq))
        buffers = tuple(a for a in live if buffer_key_of(a) is not None)
        return _Replace(int(live.get(LIVE_VERSION) or 0), seq, buffers)

    # ---- the transaction ----------------------------------------------------------------
    def _actions(self, step: Step, replace: _Replace | None) -> list[dict]:
        ordered = list(step.metrics)
        new_keys = [k for k in ordered if k not in step.announced]
        expression = self._live_expression(step, ordered, new_keys, replace)
        expression.names["#g"] = GATE
        expression.values[":gws"] = step.workspace
        expression.sets.append("#g = :gws")  # the checks below hold: open the gate
        return [
            self._meta_check(step, ordered),
            self.gateway.tx_check(
                keys.experiment_key(step.experiment_id),
                Attr("lifecycle_stage").eq(LifecycleStage.ACTIVE)
                & Attr(CLOSING_GATES).not_exists(),
            ),
            self.gateway.tx_update(
                live_key(step.run_id),
                expression.update,
                names=expression.names,
                values=expression.values,
                condition_expression=expression.condition,
            ),
            self.gateway.tx_put(gate_entry(step.experiment_id, step.run_id)),
            *(self._announce(step, key) for key in new_keys),
            *(self.gateway.tx_put(item) for item in step.extra_puts),
        ]

    def _meta_check(self, step: Step, ordered: list[str]) -> dict:
        names = {
            "#ws": keys.WORKSPACE_ATTRIBUTE,
            "#lc": "lifecycle_stage",
            "#sm": STEP_MODE,
            "#lf": LIVE_FLAG,
            "#mt": "metrics",
            "#sp": SPILLED,
        }
        values = {":ws": step.workspace, ":active": LifecycleStage.ACTIVE, ":t": True}
        parts = ["#ws = :ws", "#lc = :active", "#sm = :t", "#lf = :t"]
        for i, key in enumerate(ordered):
            names[f"#k{i}"] = key
            parts.append(f"attribute_not_exists(#mt.#k{i}.#sp)")
        return self.gateway.tx_check_expression(
            keys.run_key(step.run_id), " AND ".join(parts), names, values
        )

    def _live_expression(
        self, step: Step, ordered: list[str], new_keys: list[str], replace: _Replace | None
    ) -> _Expression:
        names = {
            "#m": LIVE_METRICS,
            "#v": LIVE_VERSION,
            "#rid": "run_id",
            "#st": "step",
            "#ts": "timestamp",
        }
        values: dict[str, Any] = {":rid": step.run_id, ":one": 1}
        sets, adds, conditions = ["#rid = :rid"], ["#v :one"], ["attribute_exists(#m)"]
        for i, key in enumerate(ordered):
            value, timestamp, step_no = step.metrics[key]
            names[f"#k{i}"] = key
            values[f":e{i}"] = metric_entry(value, timestamp, step_no)
            values[f":s{i}"], values[f":t{i}"] = int(step_no), int(timestamp)
            sets.append(f"#m.#k{i} = :e{i}")
            entry = f"#m.#k{i}"
            conditions.append(
                f"(attribute_not_exists({entry}) OR {entry}.#st < :s{i} OR "
                f"({entry}.#st = :s{i} AND {entry}.#ts < :t{i}))"
            )
        names["#an"] = LIVE_ANNOUNCED
        for i, key in enumerate(k for k in ordered if k in step.announced):
            values[f":a{i}"] = key
            conditions.append(f"contains(#an, :a{i})")
        if new_keys:
            values[":new"] = set(new_keys)
            values[":maxk"] = MAX_LIVE_KEYS - len(new_keys)
            adds.append("#an :new")
            conditions.append("(attribute_not_exists(#an) OR size(#an) <= :maxk)")
        if step.recent is not None:
            self._buffers(step, ordered, replace, names, values, sets, adds, conditions)
        return _Expression(sets, adds, conditions, names, values)

    @staticmethod
    def _buffers(
        step: Step,
        ordered: list[str],
        replace: _Replace | None,
        names: dict[str, str],
        values: dict[str, Any],
        sets: list[str],
        adds: list[str],
        conditions: list[str],
    ) -> None:
        """The buffer part of LIVE's update: append (room permitting) or, after a flush,
        replace every buffer (LIVE's version unchanged since the flush read it)."""
        assert step.recent is not None
        count = sum(len(step.recent.get(k, [])) for k in ordered)
        names["#n"] = LIVE_BUFFERED
        values[":n"] = count
        mine = set()
        for i, key in enumerate(ordered):
            attribute = live_buffer_attribute(key)
            mine.add(attribute)
            names[f"#b{i}"] = attribute
            values[f":p{i}"] = step.recent.get(key, [])
            if replace is None:
                sets.append(f"#b{i} = list_append(if_not_exists(#b{i}, :empty), :p{i})")
            else:
                sets.append(f"#b{i} = :p{i}")
        if replace is None:
            values[":empty"] = []
            # room for B points per key LIVE buffers (as far as the writer knows them): a
            # step of fewer keys than the run's does not flush early
            buffered_keys = len(set(ordered) | step.announced)
            values[":room"] = BUFFER_POINTS * buffered_keys - count
            adds.append("#n :n")
            conditions.append("(attribute_not_exists(#n) OR #n <= :room)")
            return
        names["#fs"] = LIVE_FLUSH_SEQ
        values[":seq"] = replace.seq
        values[":ver"] = replace.version
        sets += ["#n = :n", "#fs = :seq"]
        for j, attribute in enumerate(a for a in replace.buffers if a not in mine):
            names[f"#o{j}"] = attribute
            values[":empty"] = []
            sets.append(f"#o{j} = :empty")
        conditions.append("#v = :ver")

    def _announce(self, step: Step, key: str) -> dict:
        """The key's LATEST item leaves the value order for its shard's ``~S#`` range."""
        value, timestamp, step_no = step.metrics[key]
        fields = {
            IN_LIVE: True,
            **stepping_rank_keys(step.experiment_id, key, step.run_id),
            "run_id": step.run_id,
            "experiment_id": step.experiment_id,
            "key": key,
            **metric_entry(value, timestamp, step_no),
        }
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": v for i, v in enumerate(fields.values())}
        update = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
        return self.gateway.tx_update(
            keys.metric_latest_key(step.run_id, key), update, names=names, values=values
        )
