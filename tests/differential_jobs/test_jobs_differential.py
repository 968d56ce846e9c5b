"""DynamoDBJobStore vs MLflow's SqlAlchemyJobStore (SQLite): the same calls, the same
results, states and errors (see harness.py for what is normalised)."""

from __future__ import annotations

import json

import pytest
from mlflow.entities._job import JobProgress
from mlflow.entities._job_status import JobStatus
from mlflow.store.jobs.abstract_store import JobTerminalStateUpdateException
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential_jobs.harness import Steps, run_both

pytestmark = pytest.mark.usefixtures("fake_clock")

ALL_ACTIONS = ("start", "finish", "fail", "time out", "reset", "cancel", "retry")


def _act(s: Steps, rank: int, action: str) -> None:
    job_id = s.ids[rank]
    store = s.store
    calls = {
        "start": lambda: store.start_job(job_id),
        "finish": lambda: store.finish_job(job_id, '{"ok": true}'),
        "fail": lambda: store.fail_job(job_id, "boom"),
        "time out": lambda: store.mark_job_timed_out(job_id),
        "reset": lambda: store.reset_job(job_id),
        "cancel": lambda: store.cancel_job(job_id),
        "retry": lambda: store.retry_job(job_id),
    }
    s.do(f"{action} job{rank}", calls[action])
    s.get(rank)


def test_create_and_get(job_stores):
    def scenario(s: Steps) -> None:
        s.create()
        s.create("run_online_trace_scorer", json.dumps({"x": [1, 2]}), timeout=12.5)
        s.create("optimize_prompts", "{}", creator="alice", executor_backend="local")
        s.get(0)
        s.get(1)
        s.get(2)
        s.do("get missing", lambda: s.store.get_job("no-such-job"))
        s.do("get empty id", lambda: s.store.get_job(""))

    run_both(job_stores, scenario)


def test_big_params_and_result_round_trip(job_stores):
    params = json.dumps({"traces": ["t" * 40 for _ in range(3000)]})  # ~130 KB

    def scenario(s: Steps) -> None:
        s.create("invoke_scorer", params)
        s.do("start", lambda: s.store.start_job(s.ids[0]))
        s.do("finish", lambda: s.store.finish_job(s.ids[0], params))
        s.get(0)

    run_both(job_stores, scenario)


@pytest.mark.parametrize("first", ALL_ACTIONS)
@pytest.mark.parametrize("second", ALL_ACTIONS)
def test_every_pair_of_transitions(job_stores, first, second):
    """From PENDING, one action then another: each status each action meets, and the
    errors of the refused ones (message included)."""

    def scenario(s: Steps) -> None:
        s.create()
        _act(s, 0, first)
        _act(s, 0, second)

    run_both(job_stores, scenario)


def test_missing_job_in_every_transition(job_stores):
    def scenario(s: Steps) -> None:
        s.ids.append("00000000-0000-4000-8000-000000000000")
        for action in ALL_ACTIONS:
            s.do(action, lambda a=action: _act(s, 0, a))
        store, job_id = s.store, s.ids[0]
        s.do("claim", lambda: store.claim_job(job_id))
        s.do("renew", lambda: store.renew_job_lease(job_id, 10))
        s.do("needs recovery", lambda: store.mark_job_needs_recovery(job_id))
        s.do("reattach", lambda: store.reattach_job(job_id))
        s.do("requeue", lambda: store.requeue_job(job_id))
        s.do("report", lambda: store.report_job_result(job_id, JobStatus.SUCCEEDED, "1"))
        s.do("retry or fail", lambda: store.retry_or_fail_job(job_id, "e"))
        s.do("details", lambda: store.update_status_details(job_id, {"a": 1}))
        s.do("progress", lambda: store.update_job_progress(job_id, message="m"))

    run_both(job_stores, scenario)


def test_claims_leases_and_recovery(job_stores):
    def scenario(s: Steps) -> None:
        store = s.store
        s.create()
        job = s.ids[0]
        s.do("renew pending", lambda: store.renew_job_lease(job, 30))
        s.do("claim with lease", lambda: store.claim_job(job, lease_duration=30))
        s.get(0)
        s.do("claim again", lambda: store.claim_job(job))
        s.do("renew", lambda: store.renew_job_lease(job, 60))
        s.do("renew without duration", lambda: store.renew_job_lease(job, None))
        s.do("renew bad duration", lambda: store.renew_job_lease(job, -1))
        s.do("renew nan", lambda: store.renew_job_lease(job, float("nan")))
        s.do("needs recovery", lambda: store.mark_job_needs_recovery(job))
        s.get(0)
        s.do("needs recovery again", lambda: store.mark_job_needs_recovery(job))
        s.do("requeue", lambda: store.requeue_job(job))
        s.get(0)
        s.do("requeue again", lambda: store.requeue_job(job))
        s.do("claim without lease", lambda: store.claim_job(job))
        s.get(0)
        s.do("needs recovery 2", lambda: store.mark_job_needs_recovery(job))
        s.do("reattach bad lease", lambda: store.reattach_job(job, lease_duration=0))
        s.do("reattach", lambda: store.reattach_job(job, lease_duration=5))
        s.get(0)
        s.do("reattach running", lambda: store.reattach_job(job))
        s.do("update details", lambda: store.update_status_details(job, {"a": 1, "b": 2}))
        s.do("merge details", lambda: store.update_status_details(job, {"b": 3}))
        s.do(
            "progress",
            lambda: store.update_job_progress(
                job, message="half", progress=JobProgress(phase="p", completed=1, total=2)
            ),
        )
        s.do("progress nothing", lambda: store.update_job_progress(job))
        s.do("message only", lambda: store.update_job_progress(job, message="more"))
        s.get(0)
        s.do("report", lambda: store.report_job_result(job, JobStatus.SUCCEEDED, '"r"'))
        s.get(0)
        s.do("details after end", lambda: store.update_status_details(job, {"c": 1}))
        s.do("progress after end", lambda: store.update_job_progress(job, message="late"))
        s.do("claim finished", lambda: store.claim_job(job))
        s.do("needs recovery finished", lambda: store.mark_job_needs_recovery(job))

    run_both(job_stores, scenario)


def test_terminal_state_update_exception_type(job_stores):
    for store in job_stores:
        job = store.create_job("invoke_scorer", "{}")
        store.cancel_job(job.job_id)
        with pytest.raises(JobTerminalStateUpdateException):
            store.update_status_details(job.job_id, {"a": 1})
        with pytest.raises(JobTerminalStateUpdateException):
            store.update_job_progress(job.job_id, message="late")


@pytest.mark.parametrize(
    ("status", "result", "error"),
    [
        (JobStatus.SUCCEEDED, '{"x": 1}', None),
        (JobStatus.SUCCEEDED, None, None),
        (JobStatus.SUCCEEDED, "1", "bad"),
        (JobStatus.FAILED, None, "boom"),
        (JobStatus.FAILED, "1", "boom"),
        (JobStatus.FAILED, None, None),
        (JobStatus.TIMEOUT, None, None),
        (JobStatus.TIMEOUT, None, "too slow"),
        (JobStatus.TIMEOUT, "1", None),
        (JobStatus.CANCELED, "1", "ignored"),
        (JobStatus.RUNNING, None, None),
    ],
)
def test_report_job_result(job_stores, status, result, error):
    def scenario(s: Steps) -> None:
        store = s.store
        s.create()
        job = s.ids[0]
        s.do("report pending", lambda: store.report_job_result(job, status, result, error))
        s.do("claim", lambda: store.claim_job(job, 10))
        s.do("report", lambda: store.report_job_result(job, status, result, error))
        s.get(0)
        s.do("report again", lambda: store.report_job_result(job, status, result, error))

    run_both(job_stores, scenario)


def test_retry_or_fail_budget_and_backoff(job_stores, monkeypatch):
    monkeypatch.setenv("MLFLOW_SERVER_JOB_TRANSIENT_ERROR_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_BASE_DELAY", "0")

    def scenario(s: Steps) -> None:
        store = s.store
        s.create()
        job = s.ids[0]
        s.do("retry or fail pending", lambda: store.retry_or_fail_job(job, "e0"))
        for attempt in range(3):
            s.do(f"start {attempt}", lambda: store.start_job(job))
            s.do(
                f"retry or fail {attempt}", lambda a=attempt: store.retry_or_fail_job(job, f"e{a}")
            )
            s.get(0)
        s.do("retry or fail failed", lambda: store.retry_or_fail_job(job, "late"))

    run_both(job_stores, scenario)


def test_backoff_blocks_claim(job_stores, monkeypatch):
    monkeypatch.setenv("MLFLOW_SERVER_JOB_TRANSIENT_ERROR_RETRY_BASE_DELAY", "3600")

    def scenario(s: Steps) -> None:
        store = s.store
        s.create()
        job = s.ids[0]
        s.do("start", lambda: store.start_job(job))
        s.do("retry or fail", lambda: store.retry_or_fail_job(job, "transient"))
        s.do("claim during backoff", lambda: store.claim_job(job))
        s.do("start during backoff", lambda: store.start_job(job))
        s.do("reset clears backoff", lambda: store.reset_job(job))
        s.do("claim after reset", lambda: store.claim_job(job))
        s.do("retry_job", lambda: store.retry_job(job))
        s.do("claim after retry_job", lambda: store.claim_job(job))
        s.get(0)

    run_both(job_stores, scenario)


def test_list_jobs_filters_and_order(job_stores):
    def scenario(s: Steps) -> None:
        store = s.store
        made = [
            s.create("invoke_scorer", json.dumps({"a": 1, "b": 2})),
            s.create("invoke_scorer", json.dumps({"a": 1, "b": 3})),
            s.create("optimize_prompts", json.dumps({"a": 2})),
            s.create("invoke_scorer", json.dumps({"a": 1})),
            s.create("optimize_prompts", json.dumps({"a": 1, "b": 2, "c": 5})),
        ]
        store.start_job(s.ids[1])
        store.finish_job(s.ids[2], "1")
        store.start_job(s.ids[3])
        store.mark_job_needs_recovery(s.ids[3])
        store.cancel_job(s.ids[4])
        times = [j.creation_time for j in made]

        def ids(**kw):
            return lambda: [j.job_id for j in store.list_jobs(**kw)]

        s.do("all", ids())
        s.do("by name", ids(job_name="invoke_scorer"))
        s.do("unknown name", ids(job_name="nope"))
        s.do("pending", ids(statuses=[JobStatus.PENDING]))
        s.do(
            "unfinished",
            ids(statuses=[JobStatus.PENDING, JobStatus.RUNNING, JobStatus.NEEDS_RECOVERY]),
        )
        s.do("finalized", ids(statuses=[JobStatus.SUCCEEDED, JobStatus.CANCELED]))
        s.do("empty statuses", ids(statuses=[]))
        s.do("from 2nd", ids(begin_timestamp=times[1]))
        s.do("to 3rd", ids(end_timestamp=times[2]))
        s.do("2nd to 4th", ids(begin_timestamp=times[1], end_timestamp=times[3]))
        s.do("inverted range", ids(begin_timestamp=times[3], end_timestamp=times[1]))
        s.do("params a=1", ids(params={"a": 1}))
        s.do("params a=1 b=2", ids(params={"a": 1, "b": 2}))
        s.do("params missing key", ids(params={"z": 1}))
        s.do(
            "everything",
            ids(
                job_name="invoke_scorer",
                statuses=[JobStatus.PENDING, JobStatus.RUNNING],
                begin_timestamp=times[0],
                end_timestamp=times[4],
                params={"a": 1},
            ),
        )
        s.do("entities", lambda: list(store.list_jobs(statuses=[JobStatus.NEEDS_RECOVERY])))

    run_both(job_stores, scenario)


def test_list_jobs_pages_past_one_page(job_stores):
    def scenario(s: Steps) -> None:
        for i in range(230):
            s.create("invoke_scorer", json.dumps({"i": i}))
        for rank in range(0, 230, 3):
            s.store.start_job(s.ids[rank])
        s.do("all", lambda: [j.job_id for j in s.store.list_jobs()])
        s.do("running", lambda: [j.job_id for j in s.store.list_jobs(statuses=[JobStatus.RUNNING])])
        s.do(
            "both",
            lambda: [
                j.job_id for j in s.store.list_jobs(statuses=[JobStatus.RUNNING, JobStatus.PENDING])
            ],
        )

    run_both(job_stores, scenario)


def test_delete_jobs(job_stores, fake_clock):
    def scenario(s: Steps) -> None:
        store = s.store
        for _ in range(6):
            s.create()
        store.finish_job(s.ids[0], "1")
        store.fail_job(s.ids[1], "e")
        store.start_job(s.ids[2])
        store.mark_job_timed_out(s.ids[3])
        store.cancel_job(s.ids[5])
        s.do(
            "by ids", lambda: s.sorted_ids(store.delete_jobs(job_ids=[s.ids[0], s.ids[2], "nope"]))
        )
        s.get(0)
        s.get(2)
        # every job was created more than 1 ms ago on the fake clock; none 10**9 ms ago
        s.do("older than a long time", lambda: s.sorted_ids(store.delete_jobs(older_than=10**9)))
        s.do("older than 1 ms", lambda: s.sorted_ids(store.delete_jobs(older_than=1)))
        s.do("left", lambda: [j.job_id for j in store.list_jobs()])
        s.do("all finalized", lambda: s.sorted_ids(store.delete_jobs()))
        s.do("left after", lambda: [j.job_id for j in store.list_jobs()])

    run_both(job_stores, scenario)


def test_workspaces_isolate_jobs(ws_job_stores):
    def scenario(s: Steps) -> None:
        store = s.store
        with WorkspaceContext("team-a"):
            s.create()
            s.create("optimize_prompts")
            store.finish_job(s.ids[1], "1")
        with WorkspaceContext("team-b"):
            s.create()
            s.do("b lists", lambda: [j.job_id for j in store.list_jobs()])
            s.do("b gets a's job", lambda: store.get_job(s.ids[0]))
            s.do("b cancels a's job", lambda: store.cancel_job(s.ids[0]))
            s.do("b claims a's job", lambda: store.claim_job(s.ids[0]))
            s.do("b deletes a's job", lambda: store.delete_jobs(job_ids=[s.ids[1]]))
            s.do("b deletes all", lambda: store.delete_jobs())
        with WorkspaceContext("team-a"):
            s.do("a lists", lambda: [j.job_id for j in store.list_jobs()])
            s.do(
                "a pending",
                lambda: [j.job_id for j in store.list_jobs(statuses=[JobStatus.PENDING])],
            )
            s.get(0)
            s.do("a cancels", lambda: store.cancel_job(s.ids[0]))
            s.do("a deletes", lambda: s.sorted_ids(store.delete_jobs()))
        s.do("no workspace", lambda: store.create_job("invoke_scorer", "{}"))

    run_both(ws_job_stores, scenario)
