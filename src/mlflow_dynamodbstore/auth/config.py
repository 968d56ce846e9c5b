"""The dynamodb-auth app's configuration: MLflow's basic-auth ini, with ``database_uri``
optional.

MLflow reads its auth config once, when ``mlflow.server.auth`` is first imported, and its
reader requires ``database_uri``. Here it may be left out, meaning the backend store's table
(the ``--backend-store-uri`` that ``mlflow server`` hands its workers), or be a
``dynamodb://`` URI; anything else is refused with a clear error instead of quietly
creating a SQLite file. Without ``MLFLOW_AUTH_CONFIG_PATH`` the defaults are this package's
``dynamodb_auth.ini`` (MLflow's own defaults, minus the SQLite ``database_uri``). Every
setting is read by MLflow's own reader, from the same file.
"""

from __future__ import annotations

import configparser
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from mlflow.environment_variables import MLFLOW_AUTH_CONFIG_PATH
from mlflow.exceptions import MlflowException

DEFAULT_CONFIG_PATH = Path(__file__).with_name("dynamodb_auth.ini")
SCHEME = "dynamodb://"


def config_path() -> str:
    return MLFLOW_AUTH_CONFIG_PATH.get() or str(DEFAULT_CONFIG_PATH)


def resolve_database_uri(configured: str | None) -> str:
    """The table the auth store uses: ``configured`` if it is a dynamodb:// URI, the backend
    store's when ``configured`` is absent; refused otherwise."""
    if configured:
        if configured.startswith(SCHEME):
            return configured
        raise MlflowException.invalid_parameter_value(
            f"The dynamodb-auth app keeps users and permissions in DynamoDB: database_uri in "
            f"{config_path()} must be a dynamodb:// URI or be left out (to use the backend "
            f"store's table), not {configured!r}. Use --app-name basic-auth for a SQL database."
        )
    from mlflow.server.constants import BACKEND_STORE_URI_ENV_VAR

    backend = os.environ.get(BACKEND_STORE_URI_ENV_VAR, "")
    if backend.startswith(SCHEME):
        return backend
    raise MlflowException.invalid_parameter_value(
        "The dynamodb-auth app keeps users and permissions in DynamoDB: start the server with "
        "--backend-store-uri dynamodb://..., or set database_uri = dynamodb://... in "
        f"{config_path()}."
    )


@contextmanager
def _readable_by_mlflow() -> Iterator[str]:
    """A config file MLflow's reader accepts, with ``database_uri`` resolved: the file
    itself when it names a dynamodb:// table, else a private copy (readable by this user
    only, deleted on exit) that adds the resolved URI."""
    path = config_path()
    parser = configparser.ConfigParser()
    if not parser.read(path) or not parser.has_section("mlflow"):
        raise MlflowException.invalid_parameter_value(
            f"Cannot read an [mlflow] section from the auth config file {path}."
        )
    configured = parser["mlflow"].get("database_uri")
    resolved = resolve_database_uri(configured)
    if configured:
        yield path
        return
    parser["mlflow"]["database_uri"] = resolved
    fd, copy = tempfile.mkstemp(suffix=".ini")
    try:
        with os.fdopen(fd, "w") as out:
            parser.write(out)
        yield copy
    finally:
        os.unlink(copy)


@contextmanager
def _config_path_env(path: str) -> Iterator[None]:
    previous = os.environ.get(MLFLOW_AUTH_CONFIG_PATH.name)
    os.environ[MLFLOW_AUTH_CONFIG_PATH.name] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MLFLOW_AUTH_CONFIG_PATH.name, None)
        else:
            os.environ[MLFLOW_AUTH_CONFIG_PATH.name] = previous


def read_auth_config() -> Any:
    """MLflow's ``AuthConfig``, read by MLflow's reader from our config."""
    with _readable_by_mlflow() as path, _config_path_env(path):
        from mlflow.server.auth.config import read_auth_config as mlflow_reader

        return mlflow_reader()


def import_basic_auth() -> tuple[ModuleType, Any]:
    """``mlflow.server.auth`` imported under our config (the module reads it at import),
    and that config. If the module was imported before, its ``auth_config`` is replaced."""
    with _readable_by_mlflow() as path, _config_path_env(path):
        import mlflow.server.auth as basic_auth
        from mlflow.server.auth.config import read_auth_config as mlflow_reader

        config = mlflow_reader()
    basic_auth.auth_config = config
    return basic_auth, config
