"""The auth store on DynamoDB Local: races, request counts on the permission-check path (as
docs/access-patterns.md states them), long key parts, and no secret in any message."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from flask import Flask
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore

PW = "correct-horse-battery"


@pytest.fixture
def store(store_uri):
    return DynamoDBAuthStore(store_uri)


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args).id)
    except MlflowException as e:
        return ("error", e.error_code, e.message)


def test_one_winner_when_many_create_the_same_user(store_uri):
    stores = [DynamoDBAuthStore(store_uri) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda s: _outcome(s.create_user, "admin", PW), stores))
    assert sorted(o[0] for o in outcomes) == ["error"] * 5 + ["ok"]
    assert {o for o in outcomes if o[0] == "error"} == {
        ("error", "RESOURCE_ALREADY_EXISTS", "User (username=admin) already exists.")
    }
    assert [u.username for u in stores[0].list_users()] == ["admin"]


def test_users_created_at_once_get_distinct_ids(store_uri):
    stores = [DynamoDBAuthStore(store_uri) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda i: _outcome(stores[i].create_user, f"u{i}", PW), range(6)))
    assert sorted(o[1] for o in outcomes) == [1, 2, 3, 4, 5, 6]
    assert {u.username: u.id for u in stores[0].list_users()} == {
        f"u{i}": outcomes[i][1] for i in range(6)
    }


def test_no_password_or_hash_in_messages(store):
    user = store.create_user("alice", PW)
    stored_hash = store.get_user("alice").password_hash
    assert stored_hash != PW and PW not in stored_hash
    with pytest.raises(MlflowException) as dup:
        store.create_user("alice", PW)
    assert PW not in dup.value.message and stored_hash not in dup.value.message
    assert user.to_json() == {"id": 1, "username": "alice", "is_admin": False}


def test_long_names_and_patterns_are_kept_whole(store):
    """Key parts beyond 512 bytes are stored under their digest; the values stay whole."""
    name = "ü" * 2000
    store.create_user(name, PW)
    assert store.get_user(name).username == name
    assert not store.has_user("ü" * 1999)
    pattern = "m" * 3000
    store.create_registered_model_permission(pattern, name, "READ")
    assert store.get_registered_model_permission(pattern, name).name == pattern
    store.rename_grants_for_resource("registered_model", pattern, "short")
    assert [p.name for p in store.list_registered_model_permissions(name)] == ["short"]


def test_permission_check_costs(store):
    """What MLflow's request hooks call per request (docs/access-patterns.md, Auth)."""
    alice = store.create_user("alice", PW)
    store.grant_user_permission("alice", "experiment", "1", "READ")
    stats = store.gateway.stats

    stats.reset()
    assert store.authenticate_user("alice", PW)
    store.get_user("alice")
    assert stats.requests("GetItem") == 2 and stats.total_requests == 2

    # Inside one HTTP request the user record is read once, however often the hooks ask;
    # a change to the user in that request is seen at once.
    with Flask(__name__).test_request_context():
        stats.reset()
        assert store.authenticate_user("alice", PW)
        assert store.get_user("alice").username == "alice"
        assert store.has_user("alice") and not store.has_user("nobody")
        assert stats.requests("GetItem") == 2 and stats.total_requests == 2
        store.update_user("alice", is_admin=True)
        assert store.get_user("alice").is_admin
    with Flask(__name__).test_request_context():
        stats.reset()
        assert store.get_user("alice").is_admin  # a new request reads the table again
        assert stats.requests("GetItem") == 1

    stats.reset()
    grants = store.list_grants(alice.id, "default", {"experiment"})
    assert [tuple(g) for g in grants] == [("experiment", "1", "READ")]
    # The user's roles in the workspace, then per role one Query per resource type (the
    # asked one and "workspace").
    assert stats.requests("Query") == 3 and stats.total_requests == 3

    role = store.create_role("readers", "default", None)
    store.add_role_permission(role.id, "experiment", "*", "READ")
    store.assign_role_to_user(alice.id, role.id)
    stats.reset()
    store.list_grants(alice.id, "default", {"experiment"})
    assert stats.total_requests == 5

    stats.reset()
    assert not store.is_workspace_admin(alice.id, "default")
    assert stats.requests("Query") == 1 and stats.requests("BatchGetItem") == 1


def test_deleting_a_user_leaves_none_of_their_items(store, dynamodb_endpoint, table_name):
    store.create_user("keep", PW)
    alice = store.create_user("alice", PW)
    for i in range(30):
        store.grant_user_permission("alice", "experiment", str(i), "EDIT")
    store.set_workspace_permission("team-a", "alice", "USE")
    role = store.create_role("shared", "default", None)
    store.assign_role_to_user(alice.id, role.id)
    store.delete_user("alice")

    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    items = [
        i for page in client.get_paginator("scan").paginate(TableName=table_name)
        for i in page["Items"]
    ]  # fmt: skip
    keys = sorted(f"{i['PK']['S']} {i['SK']['S']}" for i in items)
    assert not [k for k in keys if "alice" in k or k.startswith(("USER#2 ", "RPERM#", "GRANTS#"))]
    assert not [k for k in keys if k.startswith("ROLE#") and not k.startswith("ROLE#3 ")]
    assert [r.name for r in store.list_roles()] == ["shared"]
    assert store.list_role_users(role.id) == []
