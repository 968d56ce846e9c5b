"""The dynamodb-auth app over HTTP: real ``mlflow server --app-name dynamodb-auth``
processes on DynamoDB Local, compared with ``--app-name basic-auth`` on SQLite doing the
same calls (statuses and error codes are not written down here: both servers are run and
their answers compared)."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import boto3
import pytest
import requests

from tests.integration.auth_servers import (
    ADMIN,
    ADMIN_PASSWORD,
    SECRET_KEY,
    Caller,
    entry_point_env,
    server_env,
    write_ini,
)
from tests.mlflow_server import mlflow_server, mlflow_servers
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow

EXP = "/api/2.0/mlflow/experiments"
USERS = "/api/2.0/mlflow/users"
GRANTS = "/api/3.0/mlflow/users/permissions"
MODELS = "/api/2.0/mlflow/registered-models"


def permission_scenario(c: Caller) -> None:
    """Users, grants on an experiment and a registered model, and who may do what."""
    for name in ("alice", "bob", "carol"):
        c.call(f"admin creates {name}", "POST", f"{USERS}/create", ADMIN,
               json={"username": name, "password": c.passwords[name]})  # fmt: skip
    c.call("duplicate user", "POST", f"{USERS}/create", ADMIN,
           json={"username": "alice", "password": "another-password"})  # fmt: skip
    c.call("short password", "POST", f"{USERS}/create", ADMIN,
           json={"username": "dave", "password": "short"})  # fmt: skip
    c.call("unicode and colon name", "POST", f"{USERS}/create", ADMIN,
           json={"username": "zoë:ü", "password": "a-long-password"})  # fmt: skip
    c.call("non-admin creates a user", "POST", f"{USERS}/create", "alice",
           json={"username": "eve", "password": "a-long-password"})  # fmt: skip
    exp_id = c.call("alice creates an experiment", "POST", f"{EXP}/create", "alice",
                    json={"name": "shared"}).get("experiment_id")  # fmt: skip
    get = {"experiment_id": exp_id}
    c.call("anonymous reads", "GET", f"{EXP}/get", params=get)
    c.call("wrong password", "GET", f"{EXP}/get", "bob", params=get, password="nope-nope-nope")
    c.call("malformed header", "GET", f"{EXP}/get", params=get,
           headers={"Authorization": "Basic !!!not-base64"})  # fmt: skip
    c.call("unknown user", "GET", f"{EXP}/get", "mallory", params=get, password="x" * 12)
    c.call("bob reads without a grant", "GET", f"{EXP}/get", "bob", params=get)
    c.call("bob grants himself", "POST", f"{GRANTS}/grant", "bob", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "READ"})  # fmt: skip
    c.call("alice grants bob READ", "POST", f"{GRANTS}/grant", "alice", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "READ"})  # fmt: skip
    c.call("alice grants bob READ again", "POST", f"{GRANTS}/grant", "alice", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "READ"})  # fmt: skip
    c.call("grant with a bad permission", "POST", f"{GRANTS}/grant", "alice", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "SUPERUSER"})  # fmt: skip
    c.call("bob reads with READ", "GET", f"{EXP}/get", "bob", params=get)
    c.call("bob renames with READ", "POST", f"{EXP}/update", "bob",
           json={"experiment_id": exp_id, "new_name": "by-bob"})  # fmt: skip
    c.call("bob creates a run with READ", "POST", "/api/2.0/mlflow/runs/create", "bob",
           json={"experiment_id": exp_id})  # fmt: skip
    c.call("bob grants carol with READ", "POST", f"{GRANTS}/grant", "bob", json={
        "username": "carol", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "READ"})  # fmt: skip
    c.call("alice revokes bob", "POST", f"{GRANTS}/revoke", "alice", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id})  # fmt: skip
    c.call("bob reads after revoke", "GET", f"{EXP}/get", "bob", params=get)
    c.call("alice grants bob MANAGE", "POST", f"{GRANTS}/grant", "alice", json={
        "username": "bob", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "MANAGE"})  # fmt: skip
    c.call("bob grants carol with MANAGE", "POST", f"{GRANTS}/grant", "bob", json={
        "username": "carol", "resource_type": "experiment", "resource_id": exp_id,
        "permission": "READ"})  # fmt: skip
    c.call("carol reads", "GET", f"{EXP}/get", "carol", params=get)
    c.call("carol renames with READ", "POST", f"{EXP}/update", "carol",
           json={"experiment_id": exp_id, "new_name": "by-carol"})  # fmt: skip
    c.call("bob renames with MANAGE", "POST", f"{EXP}/update", "bob",
           json={"experiment_id": exp_id, "new_name": "by-bob"})  # fmt: skip
    c.call("permission check", "GET", f"{GRANTS}/get", "alice", params={
        "username": "carol", "resource_type": "experiment", "resource_id": exp_id})  # fmt: skip
    found = c.call("bob searches", "POST", f"{EXP}/search", "bob", json={"max_results": 10})
    c.log.append(("bob sees", len(found.get("experiments", []))))
    found = c.call("carol searches", "POST", f"{EXP}/search", "carol", json={"max_results": 10})
    c.log.append(("carol sees", len(found.get("experiments", []))))
    c.call("bob's current user", "GET", f"{USERS}/current", "bob")
    c.call("bob lists users", "GET", f"{USERS}/list", "bob")
    c.call("bob gets himself", "GET", f"{USERS}/get", "bob", params={"username": "bob"})
    c.call("bob gets alice", "GET", f"{USERS}/get", "bob", params={"username": "alice"})
    c.call("bob's permissions", "GET", "/api/3.0/mlflow/users/current/permissions", "bob")
    # Registered models.
    c.call("alice creates a model", "POST", f"{MODELS}/create", "alice", json={"name": "m"})
    c.call("bob reads the model", "GET", f"{MODELS}/get", "bob", params={"name": "m"})
    c.call("alice grants bob READ on it", "POST", f"{GRANTS}/grant", "alice", json={
        "username": "bob", "resource_type": "registered_model", "resource_id": "m",
        "permission": "READ"})  # fmt: skip
    c.call("bob reads the model with READ", "GET", f"{MODELS}/get", "bob", params={"name": "m"})
    c.call("bob renames it with READ", "POST", f"{MODELS}/rename", "bob",
           json={"name": "m", "new_name": "m2"})  # fmt: skip
    c.call("alice renames it", "POST", f"{MODELS}/rename", "alice",
           json={"name": "m", "new_name": "m2"})  # fmt: skip
    c.call("bob reads it renamed", "GET", f"{MODELS}/get", "bob", params={"name": "m2"})
    c.call("alice deletes it", "DELETE", f"{MODELS}/delete", "alice", json={"name": "m2"})
    c.call("alice re-creates m2", "POST", f"{MODELS}/create", "alice", json={"name": "m2"})
    c.call("bob's old grant is gone", "GET", f"{MODELS}/get", "bob", params={"name": "m2"})
    # Users.
    c.call("alice deletes bob", "DELETE", f"{USERS}/delete", "alice", json={"username": "bob"})
    c.call("admin deletes carol", "DELETE", f"{USERS}/delete", ADMIN, json={"username": "carol"})
    c.call("carol after deletion", "GET", f"{EXP}/get", "carol", params=get)
    c.call("admin sets bob's password", "PATCH", f"{USERS}/update-password", ADMIN,
           json={"username": "bob", "password": "bob-new-password"})  # fmt: skip
    c.call("bob's old password", "GET", f"{EXP}/get", "bob", params=get)
    c.passwords["bob"] = "bob-new-password"
    c.call("bob's new password", "GET", f"{EXP}/get", "bob", params=get)
    c.call("admin makes bob admin", "PATCH", f"{USERS}/update-admin", ADMIN,
           json={"username": "bob", "is_admin": True})  # fmt: skip
    c.call("bob lists users as admin", "GET", f"{USERS}/list", "bob")
    c.call("admin deletes nobody", "DELETE", f"{USERS}/delete", ADMIN, json={"username": "x"})


@pytest.fixture
def entry_points(tmp_path_factory):
    return entry_point_env(tmp_path_factory.mktemp("entry-points"))


@pytest.mark.parametrize("default_permission", ["NO_PERMISSIONS", "READ"])
def test_same_answers_as_basic_auth_on_sqlite(
    tmp_path, store_uri, entry_points, dynamodb_endpoint, table_name, default_permission
):
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours_ini = write_ini(tmp_path / "ours.ini", default_permission=default_permission)
    theirs_ini = write_ini(
        tmp_path / "theirs.ini",
        default_permission=default_permission,
        database_uri=f"sqlite:///{theirs_dir}/basic_auth.db",
    )
    servers = [
        mlflow_server(store_uri, ours_dir, ["--app-name", "dynamodb-auth"],
                      env=server_env(ours_ini, entry_points), cwd=ours_dir),
        mlflow_server(migrated_sqlite_uri(theirs_dir / "mlflow.db"), theirs_dir,
                      ["--app-name", "basic-auth"], env=server_env(theirs_ini),
                      cwd=theirs_dir),
    ]  # fmt: skip
    # Both servers start, and then run the scenario, side by side (each server's answers
    # depend only on its own calls, in the scenario's order).
    with mlflow_servers(*servers) as (ours, theirs):
        ours_log, theirs_log = Caller(ours), Caller(theirs)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(permission_scenario, [theirs_log, ours_log]))
    assert ours_log.log == theirs_log.log
    # The scenario means something: it is refused, denied and allowed along the way.
    statuses = {entry[1] for entry in ours_log.log if len(entry) == 3}
    assert {200, 400, 401, 403, 404} <= statuses, statuses
    # Everything of the auth app is in the table: no SQLite file anywhere in the server's
    # working directory, the users are items, and no item holds a password in plain text.
    assert not list(ours_dir.rglob("*.db"))
    items = _scan(dynamodb_endpoint, table_name)
    names = {i["username"]["S"] for i in items if i["PK"]["S"].startswith("USERNAME#")}
    assert names == {ADMIN, "alice", "bob", "zoë:ü"}
    text = repr(items)
    for password in [ADMIN_PASSWORD, *ours_log.passwords.values(), "bob-password-12"]:
        assert password not in text


def _scan(endpoint: str, table: str) -> list[dict]:
    """Every item of the table (tests only: nothing on a request path scans)."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    items: list[dict] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


def test_two_servers_on_one_table(tmp_path, store_uri, entry_points, dynamodb_endpoint, table_name):
    """Started at the same moment, two servers create one admin; a grant, revoke, password
    change or user deletion through one is enforced by the other at once (no auth cache)."""
    ini = write_ini(tmp_path / "auth.ini", default_permission="NO_PERMISSIONS")
    env = server_env(ini, entry_points)
    with ExitStack() as stack:
        servers = [
            mlflow_server(store_uri, tmp_path / name, ["--app-name", "dynamodb-auth"], env=env)
            for name in ("a", "b")
        ]
        with ThreadPoolExecutor(2) as pool:
            a_url, b_url = pool.map(stack.enter_context, servers)
        a, b = Caller(a_url), Caller(b_url)
        for name in ("alice", "bob"):
            a.call("create", "POST", f"{USERS}/create", ADMIN,
                   json={"username": name, "password": a.passwords[name]})  # fmt: skip
        exp_id = a.call("create", "POST", f"{EXP}/create", "alice", json={"name": "e"})[
            "experiment_id"
        ]
        get = {"experiment_id": exp_id}
        grant = {"username": "bob", "resource_type": "experiment", "resource_id": exp_id}

        b.call("bob before the grant", "GET", f"{EXP}/get", "bob", params=get)
        a.call("grant", "POST", f"{GRANTS}/grant", "alice", json={**grant, "permission": "READ"})
        b.call("bob after the grant", "GET", f"{EXP}/get", "bob", params=get)
        b.call("revoke", "POST", f"{GRANTS}/revoke", "alice", json=grant)
        a.call("bob after the revoke", "GET", f"{EXP}/get", "bob", params=get)
        a.call("new password", "PATCH", f"{USERS}/update-password", ADMIN,
               json={"username": "bob", "password": "bob-new-password"})  # fmt: skip
        b.call("bob's old password", "GET", f"{USERS}/current", "bob")
        b.call("bob's new password", "GET", f"{USERS}/current", "bob",
               password="bob-new-password")  # fmt: skip
        b.call("delete bob", "DELETE", f"{USERS}/delete", ADMIN, json={"username": "bob"})
        a.call("bob deleted", "GET", f"{USERS}/current", "bob", password="bob-new-password")

    assert [entry[:2] for entry in b.log] == [
        ("bob before the grant", 403),
        ("bob after the grant", 200),
        ("revoke", 200),
        ("bob's old password", 401),
        ("bob's new password", 200),
        ("delete bob", 200),
    ]
    assert [entry[:2] for entry in a.log[-3:]] == [
        ("bob after the revoke", 403),
        ("new password", 200),
        ("bob deleted", 401),
    ]
    admins = [
        i for i in _scan(dynamodb_endpoint, table_name)
        if i["PK"]["S"].startswith("USERNAME#") and i["username"]["S"] == ADMIN
    ]  # fmt: skip
    assert len(admins) == 1 and admins[0]["user_id"]["N"] == "1"


NO_PASSWORD = "MLflow Authentication needs a password to create the admin user"


@pytest.mark.parametrize(
    ("ini_uri", "password", "secret", "workers", "expected"),
    [
        (None, None, SECRET_KEY, "1", NO_PASSWORD),
        (None, "password1234", SECRET_KEY, "1", "Refusing to use the insecure default password"),
        ("sqlite:///basic_auth.db", "a-long-password", SECRET_KEY, "1", "must be a dynamodb://"),
        # Several workers: the command itself stops before it starts any (no restart loop).
        (None, None, SECRET_KEY, "3", NO_PASSWORD),
        (None, "a-long-password", "", "3", "A static secret key needs to be set"),
    ],
    ids=["no-admin-password", "known-default-password", "sql-database-uri",
         "no-admin-password-3-workers", "no-secret-key-3-workers"],
)  # fmt: skip
def test_refuses_to_start(
    tmp_path, store_uri, entry_points, ini_uri, password, secret, workers, expected
):
    ini = write_ini(tmp_path / "auth.ini", default_permission="READ", database_uri=ini_uri)
    env = {
        **server_env(ini, entry_points),
        "MLFLOW_AUTH_ADMIN_PASSWORD": password or "",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secret,
    }
    args = ["--app-name", "dynamodb-auth", "--workers", workers]
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError, match="exited early") as failed,
        mlflow_server(store_uri, tmp_path, args, env=env, cwd=tmp_path),
    ):
        pass
    assert expected in str(failed.value)
    assert not list(tmp_path.rglob("*.db"))
    # Stopped by the command before any worker (uvicorn's workers would log this).
    assert "Started server process" not in str(failed.value), str(failed.value)
    assert time.monotonic() - started < 90


def test_non_basic_authorization_is_401_with_the_credential_cache_on(
    tmp_path, store_uri, entry_points
):
    """A Bearer token, or a Basic credential without a password, is refused with a 401
    (MLflow 3.17's basic-auth answers 500 once auth_cache_ttl_seconds is set: its cache
    hashes the missing password); a real user still gets in."""
    ini = write_ini(tmp_path / "auth.ini", default_permission="READ", auth_cache_ttl_seconds=60)
    with mlflow_server(
        store_uri, tmp_path, ["--app-name", "dynamodb-auth"], env=server_env(ini, entry_points)
    ) as url:
        c = Caller(url)
        for label, header in [
            ("bearer", "Bearer some-token"),
            ("no colon", "Basic " + base64.b64encode(b"admin").decode()),
            ("not base64", "Basic !!!"),
        ]:
            c.call(label, "GET", f"{EXP}/search", headers={"Authorization": header},
                   params={"max_results": 1})  # fmt: skip
        c.call("admin", "GET", f"{EXP}/search", ADMIN, params={"max_results": 1})
        health = requests.get(f"{url}/health", headers={"Authorization": "Bearer x"}, timeout=10)
    assert c.log == [("bearer", 401, None), ("no colon", 401, None), ("not base64", 401, None),
                     ("admin", 200, None)]  # fmt: skip
    assert health.status_code == 200
