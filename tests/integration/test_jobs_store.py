"""DynamoDBJobStore on DynamoDB Local beyond the differential tests: what each call costs in
requests (docs/access-patterns.md, "Jobs"), racing claimers, and the job-store wiring
(jobs/mlflow_patch.py) as MLflow's own functions see it."""

from __future__ import annotations

import contextlib
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import mlflow.server.handlers as handlers
import mlflow.server.jobs as server_jobs
import mlflow.server.jobs.utils as job_utils
import pytest
from mlflow.entities._job_status import JobStatus
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.store.jobs.abstract_store import JobUpdateStatus
from mlflow.store.jobs.sqlalchemy_store import SqlAlchemyJobStore
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.jobs import mlflow_patch
from mlflow_dynamodbstore.stores.job_store import DynamoDBJobStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def job_store(store_uri):
    return DynamoDBJobStore(store_uri)


def _count(stats, call) -> dict[str, int]:
    stats.reset()
    with contextlib.suppress(MlflowException):  # a refused transition costs the same
        call()
    snapshot = stats.snapshot()
    return {op: s.requests for op, s in snapshot.items() if s.requests}


def test_request_counts(job_store):
    stats = job_store.gateway.stats
    jobs = [job_store.create_job("invoke_scorer", "{}") for _ in range(3)]
    first = jobs[0].job_id
    assert _count(stats, lambda: job_store.create_job("invoke_scorer", "{}")) == {"PutItem": 1}
    assert _count(stats, lambda: job_store.get_job(first)) == {"GetItem": 1}
    assert _count(stats, lambda: job_store.claim_job(first, 30)) == {"UpdateItem": 1}
    # the refused claim learns the state from the failed condition: no second read
    assert _count(stats, lambda: job_store.claim_job(first)) == {"UpdateItem": 1}
    assert _count(stats, lambda: job_store.renew_job_lease(first, 30)) == {"UpdateItem": 1}
    assert _count(stats, lambda: job_store.update_status_details(first, {"a": 1})) == {
        "GetItem": 1,
        "UpdateItem": 1,
    }
    assert _count(stats, lambda: job_store.update_job_progress(first, message="m")) == {
        "UpdateItem": 1
    }
    assert _count(stats, lambda: job_store.finish_job(first, "1")) == {"UpdateItem": 1}
    assert _count(stats, lambda: job_store.cancel_job(first)) == {"UpdateItem": 1}
    unfinished = [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.NEEDS_RECOVERY]
    assert _count(stats, lambda: list(job_store.list_jobs(statuses=unfinished))) == {
        "Query": 3,
        "BatchGetItem": 1,
    }
    assert _count(stats, lambda: list(job_store.list_jobs())) == {"Query": 1, "BatchGetItem": 1}
    assert _count(stats, lambda: job_store.delete_jobs(job_ids=[first])) == {
        "BatchGetItem": 1,
        "BatchWriteItem": 1,
    }


def test_racing_claimers_never_both_win(store_uri):
    """Eight claimers (each its own store, as separate consumers are) race for each job:
    exactly one claim is applied, every other one answers WRONG_STATE."""
    creator = DynamoDBJobStore(store_uri)
    claimers = [DynamoDBJobStore(store_uri) for _ in range(8)]
    for _ in range(5):
        job_id = creator.create_job("invoke_scorer", "{}").job_id
        barrier = threading.Barrier(len(claimers))

        def claim(store, job_id=job_id, barrier=barrier):
            barrier.wait()
            return store.claim_job(job_id, lease_duration=30)

        with ThreadPoolExecutor(len(claimers)) as pool:
            outcomes = list(pool.map(claim, claimers))
        assert sorted(outcomes) == [JobUpdateStatus.APPLIED] + [JobUpdateStatus.WRONG_STATE] * 7
        assert creator.get_job(job_id).status == JobStatus.RUNNING


def test_list_jobs_rereads_each_job(job_store):
    """A listed job is yielded as it is now: cancelling one between the index read and the
    re-read drops it from a PENDING listing (it is not yielded with a stale status)."""
    ids = [job_store.create_job("invoke_scorer", "{}").job_id for _ in range(3)]
    listing = job_store.list_jobs(statuses=[JobStatus.PENDING])
    job_store.cancel_job(ids[1])  # the generator has not read anything yet
    assert [j.job_id for j in listing] == [ids[0], ids[2]]


@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")


@pytest.fixture
def fresh_job_store_cache(monkeypatch):
    monkeypatch.setattr(handlers, "_job_store", None)


def test_wiring_resolves_the_job_store_by_uri(
    store_uri, tmp_path, monkeypatch, fresh_job_store_cache
):
    # MLflow's own module-level callers see the wrapper (server.jobs bound it at import)
    assert server_jobs._get_job_store is handlers._get_job_store
    monkeypatch.setenv(mlflow_patch.BACKEND_STORE_URI_ENV_VAR, store_uri)
    store = handlers._get_job_store()
    assert isinstance(store, DynamoDBJobStore)
    assert handlers._get_job_store() is store  # MLflow's cache
    created = store.create_job("invoke_scorer", "{}")
    assert server_jobs.get_job(created.job_id).job_id == created.job_id

    monkeypatch.setattr(handlers, "_job_store", None)
    sqlite_uri = migrated_sqlite_uri(tmp_path / "jobs.db")
    monkeypatch.setenv(mlflow_patch.BACKEND_STORE_URI_ENV_VAR, sqlite_uri)
    assert type(handlers._get_job_store()) is SqlAlchemyJobStore

    monkeypatch.setattr(handlers, "_job_store", None)
    monkeypatch.setenv(mlflow_patch.BACKEND_STORE_URI_ENV_VAR, f"file://{tmp_path}")
    with pytest.raises(MlflowException, match="Job store requires a backend store URI"):
        handlers._get_job_store()


def test_wiring_requirements_check(store_uri, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_SERVER_JOB_EXECUTION_ENGINE", raising=False)
    assert job_utils._check_requirements(store_uri) is None
    monkeypatch.setenv(mlflow_patch.BACKEND_STORE_URI_ENV_VAR, store_uri)
    assert job_utils._check_requirements() is None
    # other URIs: MLflow's own check, unchanged
    assert job_utils._check_requirements(f"sqlite:///{tmp_path}/x.db") is None
    with pytest.raises(MlflowException, match="requires a database backend store URI"):
        job_utils._check_requirements(f"file://{tmp_path}")
    monkeypatch.setenv("MLFLOW_SERVER_JOB_EXECUTION_ENGINE", "executor")
    with pytest.raises(MlflowException, match="lock manager"):
        job_utils._check_requirements(store_uri)


def test_wiring_leaves_other_mlflow_versions_alone(monkeypatch, caplog):
    def original(backend_store_uri=None):
        return "mlflow's own"

    fake = types.SimpleNamespace(
        __name__="mlflow.server.handlers", _get_job_store=original, _job_store=None
    )
    monkeypatch.setattr(mlflow_patch, "_mlflow_minor", lambda: (3, 15))
    with caplog.at_level("WARNING"):
        mlflow_patch.patch_handlers(fake)
    assert fake._get_job_store is original
    assert "left unpatched" in caplog.text
    monkeypatch.setattr(
        mlflow_patch, "_mlflow_minor", lambda: min(mlflow_patch.SUPPORTED_MLFLOW_MINORS)
    )
    mlflow_patch.patch_handlers(fake)
    assert fake._get_job_store is not original
    patched = fake._get_job_store
    mlflow_patch.patch_handlers(fake)  # idempotent
    assert fake._get_job_store is patched


def _jobs_in(store, workspace):
    with WorkspaceContext(workspace):
        return sorted((j.job_id, j.status.name, j.workspace) for j in store.list_jobs())


@pytest.mark.parametrize("mode", list(WorkspaceDeletionMode))
def test_workspace_deletion_takes_jobs_along(store_uri, workspaces_on, mode):
    """As MLflow's SQL workspace store (jobs are one of its workspace root tables):
    RESTRICT refuses while jobs exist, CASCADE deletes them, SET_DEFAULT moves them (both
    listings follow, so the default workspace's status listing finds them)."""
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    store = DynamoDBJobStore(store_uri)
    with WorkspaceContext("team-a"):
        pending = store.create_job("invoke_scorer", "{}").job_id
        done = store.create_job("invoke_scorer", "{}").job_id
        store.finish_job(done, "1")
    if mode == WorkspaceDeletionMode.RESTRICT:
        with pytest.raises(MlflowException, match="table 'jobs' still contains 2 resource"):
            provider.delete_workspace("team-a", mode)
        assert len(_jobs_in(store, "team-a")) == 2
        return
    provider.delete_workspace("team-a", mode)
    in_default = _jobs_in(store, "default")
    if mode == WorkspaceDeletionMode.CASCADE:
        assert in_default == []
        with WorkspaceContext("default"), pytest.raises(MlflowException, match="not found"):
            store.get_job(pending)
        return
    assert in_default == sorted([(pending, "PENDING", "default"), (done, "SUCCEEDED", "default")])
    with WorkspaceContext("default"):
        assert [j.job_id for j in store.list_jobs(statuses=[JobStatus.PENDING])] == [pending]
        assert store.claim_job(pending) == JobUpdateStatus.APPLIED
