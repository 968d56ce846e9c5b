"""Start a real `mlflow server` subprocess with this plugin, for HTTP tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from pathlib import Path

from mlflow_dynamodbstore.local.dynamodb_local import free_port


@contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts_dir: Path, extra_args=(), env=None, cwd=None, port=None
):
    port = port or free_port()
    log = artifacts_dir / f"mlflow-server-{port}.log"
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts_dir / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        *extra_args,
    ]  # fmt: skip
    # MLflow's job runner starts several huey consumer processes per server; on a 2-core
    # machine running many servers they cost the suite minutes. A test that needs jobs passes
    # MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true in ``env``.
    full_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with open(log, "wb") as out:
        # Its own process group: the server's uvicorn worker, job runner and huey consumers
        # go with it (terminating the server alone left them running for the whole suite).
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        stop_process_group(proc)


@contextmanager
def mlflow_servers(*servers: AbstractContextManager[str]) -> Iterator[list[str]]:
    """Several ``mlflow_server(...)`` started side by side rather than one after the other
    (a differential test's SQLite reference server starts while ours does); their URLs in
    the order given. All are stopped on the way out, also when one of them failed to start."""
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(servers)) as pool:
            started = [pool.submit(stack.enter_context, server) for server in servers]
        yield [future.result() for future in started]


def ours_and_sqlite_servers(store_uri: str, root: Path) -> AbstractContextManager[list[str]]:
    """A differential test's pair: ``mlflow server`` on ``store_uri`` and MLflow's own on a
    migrated SQLite database, started side by side (artifacts and the database under
    ``root``); their URLs, ours first."""
    from tests.sqlite_template import migrated_sqlite_uri

    return mlflow_servers(
        mlflow_server(store_uri, root / "ddb"),
        mlflow_server(migrated_sqlite_uri(root / "ref.db"), root / "sql"),
    )


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after 20 s (a loaded
    machine can take longer than that to wind down uvicorn and its job runners).

    The ``mlflow server`` command itself (the group's leader) only waits for its uvicorn
    worker; once everything else of its group has exited, all it has left is tearing down
    its interpreter: a second of CPU, several seconds on a loaded machine, for each server
    of the suite. It is ended then rather than waited for."""
    _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        if not _others_in_group(proc.pid):
            break
        time.sleep(0.05)
    _signal_group(proc, signal.SIGKILL)  # whatever of the group is still there
    proc.wait()


def _others_in_group(pgid: int) -> bool:
    """Whether a live (not zombie) process other than the leader is in group ``pgid``."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # after the command name (in parentheses): state, ppid, pgrp, ...
                state, _, group = stat.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):  # gone meanwhile
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"mlflow server not healthy in {timeout}s:\n{log.read_text()[-4000:]}")
