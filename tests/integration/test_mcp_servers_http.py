"""The MCP server registry's REST API (mlflow/server/mcp_server_api.py) through a real
``mlflow server`` on this store; and with the dynamodb-auth app, the same calls answered as
MLflow's basic-auth app on SQLite answers them (its MCP server grants)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.auth_servers import (
    ADMIN,
    Caller,
    entry_point_env,
    server_env,
    write_ini,
)
from tests.mlflow_server import mlflow_server, mlflow_servers
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow

MCP = "/api/3.0/mlflow/mcp-servers"
USERS = "/api/2.0/mlflow/users"
NAME = "com.example/weather"


def test_registry_over_rest(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path / "srv") as url:

        def call(method, path, body=None, params=None, status=200):
            r = requests.request(method, url + MCP + path, json=body, params=params, timeout=30)
            assert r.status_code == status, r.text
            return r.json()

        server = call("POST", "", {"name": NAME, "description": "weather"})
        assert server["name"] == NAME
        call("POST", "", {"name": NAME}, status=400)
        version = call(
            "POST",
            f"/{NAME}/versions",
            {"server_json": {"name": NAME, "version": "1.0.0"}, "status": "active"},
        )
        assert version["version"] == "1.0.0"
        endpoint = call(
            "POST", f"/{NAME}/endpoints", {"url": "https://x/mcp", "server_alias": "latest"}
        )
        call("POST", f"/{NAME}/tags", {"key": "team", "value": "wx"})
        got = call("GET", f"/{NAME}")
        assert got["latest_version"] == "1.0.0"
        assert got["status"] == "active"
        assert got["tags"] == {"team": "wx"}
        assert [e["id"] for e in got["access_endpoints"]] == [endpoint["id"]]
        found = call("GET", "", params={"filter_string": "status = 'active'"})
        assert [s["name"] for s in found["mcp_servers"]] == [NAME]
        assert [e["id"] for e in call("GET", "/endpoints")["mcp_access_endpoints"]] == [
            endpoint["id"]
        ]
        call("GET", "/com.example/missing", status=404)
        call("DELETE", f"/{NAME}", status=400)  # an active version
        call("PATCH", f"/{NAME}/versions/1.0.0", {"status": "deprecated"})
        call("DELETE", f"/{NAME}")
        call("GET", f"/{NAME}", status=404)


def _scenario(c: Caller) -> None:
    for name in ("alice", "bob"):
        c.call("create user", "POST", f"{USERS}/create", ADMIN,
               json={"username": name, "password": c.passwords[name]})  # fmt: skip
    c.call("alice creates", "POST", MCP, "alice", json={"name": NAME})
    c.call("alice reads", "GET", f"{MCP}/{NAME}", "alice")
    c.call("bob reads", "GET", f"{MCP}/{NAME}", "bob")
    c.call("anonymous reads", "GET", f"{MCP}/{NAME}")
    version = {"server_json": {"name": NAME, "version": "1.0.0"}}
    c.call("bob adds a version", "POST", f"{MCP}/{NAME}/versions", "bob", json=version)
    c.call("alice adds a version", "POST", f"{MCP}/{NAME}/versions", "alice", json=version)
    c.call("bob searches", "GET", MCP, "bob")
    c.call("bob deletes", "DELETE", f"{MCP}/{NAME}", "bob")
    c.call("admin deletes", "DELETE", f"{MCP}/{NAME}", ADMIN)


def test_auth_app_answers_as_basic_auth(store_uri, tmp_path, tmp_path_factory):
    entry_points = entry_point_env(tmp_path_factory.mktemp("entry-points"))
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours_ini = write_ini(tmp_path / "ours.ini", default_permission="NO_PERMISSIONS")
    theirs_ini = write_ini(
        tmp_path / "theirs.ini",
        default_permission="NO_PERMISSIONS",
        database_uri=f"sqlite:///{theirs_dir}/basic_auth.db",
    )
    # Both servers start, and then run the scenario, side by side (each server's answers
    # depend only on its own calls, in the scenario's order).
    with mlflow_servers(
        mlflow_server(store_uri, ours_dir, ["--app-name", "dynamodb-auth"],
                      env=server_env(ours_ini, entry_points), cwd=ours_dir),
        mlflow_server(migrated_sqlite_uri(theirs_dir / "mlflow.db"), theirs_dir,
                      ["--app-name", "basic-auth"], env=server_env(theirs_ini),
                      cwd=theirs_dir),
    ) as (ours, theirs):  # fmt: skip
        ours_log, theirs_log = Caller(ours), Caller(theirs)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_scenario, [theirs_log, ours_log]))
    assert ours_log.log == theirs_log.log
    # alice may create and read her server; bob may not touch it
    assert ("alice creates", 200, None) in ours_log.log
    assert any(label == "bob reads" and status == 403 for label, status, _ in ours_log.log)
