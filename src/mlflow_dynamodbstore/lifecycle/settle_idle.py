"""``runs settle-idle``: settle runs left RUNNING that stopped stepping (issue #20).

A run settles when it ends (``update_run_info`` to a terminal status, settle.py). A
training script that crashed leaves its run RUNNING forever, as on MLflow's SQL store; under
option D such a run would keep its step gate open, its gate list entry, its keys' ``~S#``
rank entries (every search ordered by those keys reads it) and ``live_metrics`` (every
search page reads its LIVE item). This job finds them through the experiments' gate lists
(no Scan): a run whose newest point in LIVE is older than the idle time gets what the end
of a run gives it, with its status left RUNNING: ``step_mode`` cleared in META (which
closes the gate), then settling (LIVE folded into META, keys back in the value order, the
entry deleted). If it logs again, its next metric write takes the read path, which puts it
back in step mode, and its steps go through the gate again after one transaction.

Idle is judged by the points' own timestamps (MLflow's clients stamp a point with the time
it was logged). Idempotent and resumable: a settled run leaves the list. An entry whose
run ended or was deleted without its entry going (a crash in between) is settled or
dropped here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mlflow.entities import RunStatus
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository
from mlflow_dynamodbstore.repositories.runs.changes import RunChange
from mlflow_dynamodbstore.repositories.runs.live import LIVE_METRICS, meta_and_live
from mlflow_dynamodbstore.repositories.runs.repository import RunRepository
from mlflow_dynamodbstore.repositories.runs.settle import settle_run
from mlflow_dynamodbstore.repositories.runs.step_gate import gate_listed_runs
from mlflow_dynamodbstore.repositories.runs.stepping import STEP_MODE
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository

Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of experiments done
_RUNNING = RunStatus.to_string(RunStatus.RUNNING)


@dataclass
class SettleIdleReport:
    experiments: int = 0  # experiments whose gate lists were read
    listed: int = 0  # runs in those lists
    idle: int = 0  # RUNNING runs idle for longer than asked (settled, or would be)
    finished: int = 0  # listed runs that had ended or gone: settled or dropped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_point_ms(live: Item | None) -> int | None:
    """The newest timestamp among LIVE's entries (None: LIVE holds none)."""
    stamps = [int(e["timestamp"]) for e in ((live or {}).get(LIVE_METRICS) or {}).values()]
    return max(stamps) if stamps else None


def settle_idle_runs(
    gateway: TableGateway,
    idle_ms: int,
    now_ms: int,
    progress: Progress = lambda n: None,
    *,
    dry_run: bool = False,
    settings: Any = None,
) -> SettleIdleReport:
    """Settle every RUNNING run whose newest LIVE point is older than ``now_ms - idle_ms``
    (``settings``: the store's, so META writes keep the tag index as a request would)."""
    report = SettleIdleReport()
    experiments = ExperimentRepository(gateway, settings)
    runs = RunRepository(gateway, experiments, settings=settings)
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    for workspace in [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]:
        for experiment in experiments.list_in_workspace(workspace, "active"):
            entries = gate_listed_runs(gateway, str(experiment["experiment_id"]))
            report.experiments += 1
            report.listed += len(entries)
            for entry in entries:
                _settle_if_idle(gateway, runs, entry, now_ms - idle_ms, report, dry_run)
            progress(1)
    return report


def _settle_if_idle(
    gateway: TableGateway,
    runs: RunRepository,
    entry: Item,
    idle_before: int,
    report: SettleIdleReport,
    dry_run: bool,
) -> None:
    run_id = entry["run_id"]
    meta, live = meta_and_live(gateway, run_id)
    running = (
        meta is not None
        and meta.get("status") == _RUNNING
        and meta.get("lifecycle_stage") == "active"
        and bool(meta.get(STEP_MODE))
    )
    if not running:
        report.finished += 1
        if dry_run:
            return
        if meta is not None and live is not None:
            settle_run(gateway, run_id)  # ended or deleted, its settling cut short
        gateway.batch_write(deletes=[{"PK": entry["PK"], "SK": entry["SK"]}])
        return
    last = last_point_ms(live)
    if last is not None and last >= idle_before:
        return
    report.idle += 1
    if dry_run:
        return
    # as the end of a run does, without ending it: the META write closes the gate
    runs.commit(
        run_id, RunChange(info={STEP_MODE: None}), require_active=False, read=(meta, None)
    )  # META as just read (consistently): no second GetItem
    runs.settle(run_id)  # RunContention if writers kept moving it: the next job retries
    gateway.batch_write(deletes=[{"PK": entry["PK"], "SK": entry["SK"]}])
