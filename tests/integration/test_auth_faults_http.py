"""The dynamodb-auth app under DynamoDB faults, through a real ``mlflow server --app-name
dynamodb-auth``: what its auth store cannot do now answers 503 TEMPORARILY_UNAVAILABLE (as the
tracking store does), what DynamoDB refuses answers 400 INVALID_PARAMETER_VALUE naming the
field; never a 500, and no body carries a traceback, a botocore name or a secret."""

from __future__ import annotations

import json
import time

import pytest
import requests

from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.integration.auth_servers import (
    ADMIN,
    ADMIN_PASSWORD,
    SECRET_KEY,
    entry_point_env,
    server_env,
    write_ini,
)
from tests.mlflow_server import mlflow_server

pytestmark = pytest.mark.slow

USERS = "/api/2.0/mlflow/users"
ROLES = "/api/3.0/mlflow/roles"
EXP = "/api/2.0/mlflow/experiments"
ADMIN_AUTH = (ADMIN, ADMIN_PASSWORD)
# Reads the auth store makes on every request (the user record, permissions, roles) and the
# writes of user and role creation. The table is seeded and the admin created before the
# server starts; ``skip`` lets most of its start-up reads through, and the test waits for its
# start-up gate to open in case a fault still meets one.
READS = ["GetItem", "Query", "BatchGetItem"]
WRITES = ["PutItem", "UpdateItem", "TransactWriteItems"]
FAULTS = [
    {"kind": "internal_error", "count": 2, "every": 5, "operations": ["GetItem"], "skip": 12},
    {"kind": "throttling", "count": 2, "every": 4, "operations": ["Query"], "skip": 6},
    {"kind": "read_timeout", "count": 2, "every": 3, "operations": WRITES},
]
SECRETS = (ADMIN_PASSWORD, SECRET_KEY, "scrypt:", "pbkdf2:", "user-password-12345")
LEAKS = ("Traceback", "botocore", "ClientError", 'File "')


def _call(url: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, url + path, auth=ADMIN_AUTH, timeout=60, **kwargs)


def _check_body(r: requests.Response) -> dict:
    for text in (*SECRETS, *LEAKS):
        assert text not in r.text, (r.status_code, r.text[:500])
    try:
        return r.json()
    except ValueError:
        return {}


def _until_not_503(url: str, method: str, path: str, **kwargs) -> requests.Response:
    # Waits between tries as MLflow's client does (its backoff): the start-up gate probes
    # DynamoDB at most once a second, so 503s in a tight loop would not test it.
    for _ in range(30):
        r = _call(url, method, path, **kwargs)
        _check_body(r)
        if r.status_code != 503:
            return r
        time.sleep(0.5)
    raise AssertionError(f"{path} answered 503 thirty times")


def test_auth_store_faults_answer_503_and_refusals_400(tmp_path, store_uri):
    DynamoDBTrackingStore(store_uri)  # seeds the table
    DynamoDBAuthStore(store_uri).create_user(ADMIN, ADMIN_PASSWORD, is_admin=True)
    ini = write_ini(tmp_path / "auth.ini", default_permission="NO_PERMISSIONS")
    env = server_env(
        ini,
        {
            **entry_point_env(tmp_path / "entry-points"),
            "MLFLOW_DYNAMODB_TEST_FAULTS": json.dumps(FAULTS),
            "MLFLOW_DYNAMODB_MAX_ATTEMPTS": "1",  # one botocore retry: some faults get through
        },
    )
    with mlflow_server(store_uri, tmp_path, ["--app-name", "dynamodb-auth"], env=env) as url:
        # A fault during the server's start-up steps closes its start-up gate (503 until the
        # next probe); wait for it to open so that what follows tests the auth store's answers.
        assert _until_not_503(url, "GET", f"{USERS}/get", params={"username": ADMIN}).ok
        answers: list[tuple[str, int, str | None]] = []
        for i in range(25):
            for label, method, path, kwargs in [
                ("get admin", "GET", f"{USERS}/get", {"params": {"username": ADMIN}}),
                ("create user", "POST", f"{USERS}/create",
                 {"json": {"username": f"user{i}", "password": "user-password-12345"}}),
                ("list roles", "GET", f"{ROLES}/list", {}),
                ("search experiments", "GET", f"{EXP}/search", {"params": {"max_results": 5}}),
            ]:  # fmt: skip
                r = _call(url, method, path, **kwargs)
                answers.append((label, r.status_code, _check_body(r).get("error_code")))
        statuses = {status for _, status, _ in answers}
        unavailable = [a for a in answers if a[1] == 503]
        print(f"\n{len(answers)} calls under faults: {len(unavailable)} answered 503")
        # Nothing else than success or "try again" (a retried create may find its user).
        assert statuses <= {200, 503, 400}, answers
        assert all(code == "TEMPORARILY_UNAVAILABLE" for _, _, code in unavailable)
        # Which calls meet a fault depends on how many reads each makes; reads and writes do.
        labels = {label for label, _, _ in unavailable}
        assert "create user" in labels and labels & {"get admin", "list roles"}, labels
        refused = [a for a in answers if a[1] == 400]
        assert all(a[0] == "create user" and a[2] == "RESOURCE_ALREADY_EXISTS" for a in refused)

        # What DynamoDB refuses: a user or a role over its 400 KB item limit (a long name
        # alone is fine: key parts past the key limits are digested, schema/keys.py).
        long_name = _until_not_503(
            url, "POST", f"{USERS}/create",
            json={"username": "u" * 500_000, "password": "user-password-12345"},
        )  # fmt: skip
        body = long_name.json()
        assert (long_name.status_code, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert "'username'" in body["message"], body
        big = _until_not_503(
            url, "POST", f"{ROLES}/create",
            json={"name": "big", "workspace": "default", "description": "d" * 500_000},
        )  # fmt: skip
        body = big.json()
        assert (big.status_code, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert "'description'" in body["message"], body
        # The server serves on: the admin is still there, the refused role is not.
        admin = _until_not_503(url, "GET", f"{USERS}/get", params={"username": ADMIN})
        assert admin.status_code == 200
        roles = _until_not_503(url, "GET", f"{ROLES}/list")
        assert "big" not in {r["name"] for r in roles.json().get("roles", [])}
    log = next(tmp_path.glob("mlflow-server-*.log")).read_text()
    assert "botocore.exceptions" not in log and "Unavailable:" not in log
