"""``mlflow-dynamodbstore auth import``: a basic-auth SQLite database built with MLflow's
own auth store, copied into a fresh table and checked with the dynamodb-auth store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore
from mlflow_dynamodbstore.cli.main import cli

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22", "root": "root-password-333"}


@pytest.fixture
def source(tmp_path):
    uri = f"sqlite:///{tmp_path}/basic_auth.db"
    sql = SqlAlchemyStore()
    sql.init_db(uri)
    sql.create_user("root", PASSWORDS["root"], is_admin=True)
    sql.create_user("alice", PASSWORDS["alice"])
    sql.create_user("bob", PASSWORDS["bob"])
    sql.create_experiment_permission("1", "alice", "EDIT")
    sql.create_experiment_permission("2", "alice", "READ")
    sql.create_registered_model_permission("model-a", "alice", "MANAGE")
    sql.create_experiment_permission("1", "bob", "DENY")
    sql.create_registered_model_permission("model-a", "bob", "READ")
    role = sql.create_role("readers", "default", "read everything")
    sql.add_role_permission(role.id, "experiment", "*", "READ")
    sql.assign_role_to_user(sql.get_user("bob").id, role.id)
    return uri, sql


def _run(store_uri, source_uri, *extra):
    result = CliRunner().invoke(
        cli, ["auth", "import", store_uri, "--from", source_uri, "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)


def _hashes(sql):
    return [u.password_hash for u in sql.list_users()]


def _no_hash(result, sql):
    for h in _hashes(sql):
        assert h not in result.output
    assert "pbkdf2" not in result.output and "scrypt" not in result.output


def test_import_round_trip_is_idempotent_and_prints_no_hash(store_uri, source):
    uri, sql = source
    ours = DynamoDBAuthStore(store_uri)
    # A user already in the table shifts the ids: the SQL ids are not the table's.
    ours.create_user("zed", "zed-password-4444")

    result, summary = _run(store_uri, uri)
    _no_hash(result, sql)
    # 3 users; readers + alice's and bob's hidden roles; 5 grants + 1 role permission;
    # the hidden roles' assignments + bob's readers assignment.
    assert summary == {
        "users": 3,
        "roles": 3,
        "permissions": 6,
        "assignments": 3,
        "skipped": {"users": 0, "roles": 0, "permissions": 0, "assignments": 0},
        "dry_run": False,
    }

    for user in sql.list_users():
        copied = ours.get_user(user.username)
        assert copied.is_admin == user.is_admin
        assert copied.id != user.id
        assert copied.password_hash == user.password_hash
        assert ours.authenticate_user(user.username, PASSWORDS[user.username])
        assert not ours.authenticate_user(user.username, "wrong-password")

    # Per-user grants resolve as in the SQL store.
    for name in ("alice", "bob"):
        for exp in ("1", "2"):
            try:
                want = sql.get_experiment_permission(exp, name).permission
            except MlflowException:
                want = None
            try:
                got = ours.get_experiment_permission(exp, name).permission
            except MlflowException:
                got = None
            assert got == want, (name, exp)
        assert (
            ours.get_registered_model_permission("model-a", name).permission
            == sql.get_registered_model_permission("model-a", name).permission
        )
        for kind, resource in (
            ("experiment", "1"),
            ("experiment", "3"),
            ("registered_model", "model-a"),
        ):
            want = sql.get_role_permission_for_resource(
                sql.get_user(name).id, kind, resource, "default"
            )
            got = ours.get_role_permission_for_resource(
                ours.get_user(name).id, kind, resource, "default"
            )
            assert (got and got.name) == (want and want.name), (name, kind, resource)

    # The hidden roles are named after the table's ids (SQL: root 1, alice 2, bob 3; the
    # table: zed 1, root 2, alice 3, bob 4), each held by its own user only.
    hidden = {r.name: r for r in ours.list_roles() if r.name.startswith("__user_")}
    assert set(hidden) == {"__user_3__", "__user_4__"}
    for name in ("alice", "bob"):
        uid = ours.get_user(name).id
        assert [a.user_id for a in ours.list_role_users(hidden[f"__user_{uid}__"].id)] == [uid]

    readers = ours.get_role_by_name("default", "readers")
    assert readers.description == "read everything"
    assert [(p.resource_type, p.resource_pattern, p.permission) for p in readers.permissions] == [
        ("experiment", "*", "READ")
    ]
    assert [a.user_id for a in ours.list_role_users(readers.id)] == [ours.get_user("bob").id]

    def snapshot():
        return (
            sorted(u.username for u in ours.list_users()),
            sorted(
                (
                    r.name,
                    r.workspace,
                    tuple(
                        (p.resource_type, p.resource_pattern, p.permission) for p in r.permissions
                    ),
                )
                for r in ours.list_roles()
            ),
            sorted(
                (a.user_id, a.role_id)
                for r in ours.list_roles()
                for a in ours.list_role_users(r.id)
            ),
        )

    before = snapshot()
    result, again = _run(store_uri, uri)
    _no_hash(result, sql)
    assert again == {
        "users": 0,
        "roles": 0,
        "permissions": 0,
        "assignments": 0,
        "skipped": {"users": 3, "roles": 3, "permissions": 6, "assignments": 3},
        "dry_run": False,
    }
    assert snapshot() == before


def test_dry_run_writes_nothing(store_uri, source):
    uri, sql = source
    result, summary = _run(store_uri, uri, "--dry-run")
    _no_hash(result, sql)
    assert summary == {
        "users": 3,
        "roles": 3,
        "permissions": 6,
        "assignments": 3,
        "skipped": {"users": 0, "roles": 0, "permissions": 0, "assignments": 0},
        "dry_run": True,
    }
    ours = DynamoDBAuthStore(store_uri)
    assert ours.list_users() == []
    assert ours.roles.all_ids() == []


def test_plain_output_and_refusals(store_uri, source, tmp_path):
    uri, sql = source
    result = CliRunner().invoke(cli, ["auth", "import", store_uri, "--from", uri])
    assert result.exit_code == 0, result.output
    assert "users: copied 3, skipped 0" in result.stdout
    _no_hash(result, sql)

    for bad in ("dynamodb://us-east-1/other", "/tmp/basic_auth.db", "http://x/y"):
        result = CliRunner().invoke(cli, ["auth", "import", store_uri, "--from", bad])
        assert result.exit_code == 2
        assert "--from" in result.output and "SQL database URI" in result.output
    missing = f"sqlite:///{tmp_path}/nope.db"
    result = CliRunner().invoke(cli, ["auth", "import", store_uri, "--from", missing])
    assert result.exit_code == 2 and "no SQLite database" in result.output
    assert not (tmp_path / "nope.db").exists()
