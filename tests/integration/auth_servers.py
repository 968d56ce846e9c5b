"""Helpers for HTTP tests of the dynamodb-auth app: server environments, the entry points,
and a small Basic-auth HTTP client that records (status, error code) per call."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
SECRET_KEY = "a-static-secret-key-for-tests"


def entry_point_env(tmp_dir: Path) -> dict[str, str]:
    """Environment that lets MLflow find this package's ``mlflow.app`` entry points. An
    editable install records entry points when it is installed, so a checkout newer than
    its install lacks them: a dist-info directory holding just pyproject.toml's entry points
    is put on PYTHONPATH then (nothing when the installed metadata has them)."""
    from importlib.metadata import entry_points

    if any(ep.name == "dynamodb-auth" for ep in entry_points(group="mlflow.app")):
        return {}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    info = tmp_dir / "mlflow_dynamodbstore_app_entry_points-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlflow-dynamodbstore-app-entry-points\nVersion: 0\n"
    )
    lines = []
    for group in ("mlflow.app", "mlflow.app.client"):
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in project[group].items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(tmp_dir)) if p)
    return {"PYTHONPATH": path}


def write_ini(
    path: Path,
    *,
    default_permission: str,
    database_uri: str | None = None,
    auth_cache_ttl_seconds: int = 0,
    extra: dict[str, str] | None = None,
) -> Path:
    lines = [
        "[mlflow]",
        f"default_permission = {default_permission}",
        f"admin_username = {ADMIN}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        f"auth_cache_ttl_seconds = {auth_cache_ttl_seconds}",
        *(f"{key} = {value}" for key, value in (extra or {}).items()),
    ]
    if database_uri:
        lines.append(f"database_uri = {database_uri}")
    path.write_text("\n".join(lines) + "\n")
    return path


def server_env(ini: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET_KEY,
        **(extra or {}),
    }


@dataclass
class Caller:
    """HTTP calls to one server as a user (passwords from ``passwords``); ``log`` keeps
    (label, status, error code) per call."""

    url: str
    log: list[tuple] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))

    def call(self, label, method, path, who=None, *, json=None, params=None, headers=None,
             password=None):  # fmt: skip
        auth = None if who is None else (who, password or self.passwords[who])
        r = requests.request(
            method, self.url + path, auth=auth, json=json, params=params, headers=headers,
            timeout=30,
        )  # fmt: skip
        try:
            body = r.json()
        except ValueError:
            body = {}
        code = body.get("error_code") if isinstance(body, dict) else None
        self.log.append((label, r.status_code, code))
        return body


PASSWORDS = {ADMIN: ADMIN_PASSWORD, "alice": "alice-password-1", "bob": "bob-password-12",
             "carol": "carol-password-1"}  # fmt: skip
