"""Helpers the trigram-index tests share: the admin CLI in-process (``run_cli``) and as a
process that can be killed (``cli_process``), and a store's settings refreshed now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

import mlflow_dynamodbstore
from mlflow_dynamodbstore.cli.main import cli

SRC = str(Path(mlflow_dynamodbstore.__file__).resolve().parents[1])


def run_cli(*args: str, ok: bool | None = True) -> Result:
    """``mlflow-dynamodbstore ARGS`` in this process (stdout and stderr apart); asserts it
    succeeded unless ``ok`` is None (a test of the failure checks it)."""
    result = CliRunner().invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def cli_process(uri: str, *args: str) -> subprocess.Popen:
    """``mlflow-dynamodbstore ARGS URI --json`` as a child process (to be killed)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow_dynamodbstore.cli.main", *args, uri, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def refresh_settings_now(store) -> None:
    """The store's settings refresh interval has passed: its next ``current()`` re-reads
    the table's settings item (as a server does within 30 s)."""
    store._conn.settings._next_check = float("-inf")


def counted(store, call):
    """``call()``'s result and the requests the store made for it (stats by operation)."""
    store.gateway.stats.reset()
    result = call()
    return result, store.gateway.stats.snapshot()


def ops(stats) -> dict[str, int]:
    """Requests by operation of ``counted``'s stats."""
    return {name: op.requests for name, op in stats.items()}
