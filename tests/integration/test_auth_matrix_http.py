"""The permission matrix over HTTP: ``mlflow server --app-name dynamodb-auth`` on DynamoDB
Local against ``mlflow server --app-name basic-auth`` on SQLite, side by side.

Each server configuration (``default_permission`` READ or NO_PERMISSIONS; with and without
``--enable-workspaces``) is started once for the module, both servers at once; the same
setup and then every call of the matrix (auth_matrix.py, auth_matrix_calls.py: experiments,
runs, artifacts and the artifact proxy, traces, registered models, versions and aliases,
logged models, the users, permissions and roles APIs) is made as each identity (anonymous,
a wrong password, three malformed Authorization headers, a user without a grant, users
holding READ, USE, EDIT, MANAGE and DENY on the resources, a super admin). Every answer is
recorded as (status, error_code, what a listing showed, by label), and the two records
must be equal: basic-auth is the reference, no expected table is written here.

Speed: the servers run with MLflow's credential cache on (``auth_cache_ttl_seconds``), so
a user's scrypt hash is checked once per server rather than on each of ~900 calls; the
cache-off behaviour is what tests/integration/test_auth_http.py covers.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass

import pytest

from tests.integration.auth_matrix import (
    IDENTITIES,
    WS_USERS,
    Server,
    setup_permission_matrix,
    setup_workspace_matrix,
)
from tests.integration.auth_matrix_calls import run_identity, run_workspace_identity
from tests.integration.auth_servers import entry_point_env, server_env, write_ini
from tests.mlflow_server import mlflow_server
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Config:
    default_permission: str
    workspaces: bool = False

    def __str__(self) -> str:
        return self.default_permission + ("-workspaces" if self.workspaces else "")


@pytest.fixture(scope="module")
def entry_points(tmp_path_factory):
    return entry_point_env(tmp_path_factory.mktemp("entry-points"))


@pytest.fixture(scope="module")
def pair(request, dynamodb_local, entry_points, tmp_path_factory):
    """{"ours": Server, "theirs": Server} for the module's configuration ``request.param``,
    started side by side; the DynamoDB table is dropped afterwards."""
    import boto3

    config: Config = request.param
    root = tmp_path_factory.mktemp(f"matrix-{config}")
    table = f"t{uuid.uuid4().hex[:16]}"
    extra = {"grant_default_workspace_access": "false"} if config.workspaces else {}
    ini = {
        name: write_ini(
            root / f"{name}.ini",
            default_permission=config.default_permission,
            database_uri=uri,
            auth_cache_ttl_seconds=600,
            extra=extra,
        )
        for name, uri in (("ours", None), ("theirs", f"sqlite:///{root}/basic_auth.db"))
    }
    flags = ["--enable-workspaces"] if config.workspaces else []
    managers = {
        "ours": mlflow_server(
            f"dynamodb://127.0.0.1:{dynamodb_local.port}/{table}", root / "ours",
            ["--app-name", "dynamodb-auth", *flags], env=server_env(ini["ours"], entry_points),
        ),
        "theirs": mlflow_server(
            migrated_sqlite_uri(root / "mlflow.db"), root / "theirs",
            ["--app-name", "basic-auth", *flags], env=server_env(ini["theirs"]),
        ),
    }  # fmt: skip
    with ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(cm.__enter__) for name, cm in managers.items()}
        for name, future in futures.items():  # both done: stop whichever started
            if future.exception() is None:
                stack.push(managers[name].__exit__)
        yield {name: Server(future.result()) for name, future in futures.items()}
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    with suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=table)


def differences(ours: dict, theirs: dict) -> list[str]:
    return [
        f"{key}: dynamodb-auth {ours.get(key)} != basic-auth {theirs.get(key)}"
        for key in dict.fromkeys([*theirs, *ours])
        if ours.get(key) != theirs.get(key)
    ]


def run_both(pair: dict[str, Server], script) -> None:
    """The same script on both servers, at the same time (each server's state depends only
    on its own calls, in the script's order)."""
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(script, server) for server in pair.values()]:
            done.result()


def deliberate(key: tuple, ours: tuple | None, theirs: tuple | None) -> bool:
    """Answers that differ on purpose (docs/auth.md, "Differences from basic-auth"): a
    non-Basic Authorization header is a 401 here; basic-auth with its credential cache on
    fails on it with a 500."""
    identity = key[0]
    return identity == "bearer" and theirs == (500, None, None) and ours == (401, None, None)


def assert_same(pair: dict[str, Server]) -> dict:
    ours, theirs = pair["ours"].record, pair["theirs"].record
    for key in [k for k in ours if deliberate(k, ours[k], theirs.get(k))]:
        theirs[key] = ours[key]
    found = differences(ours, theirs)
    assert not found, f"{len(found)} differences:\n" + "\n".join(found)
    assert 500 not in {v[0] for v in ours.values()}
    return ours


@pytest.mark.parametrize("pair", [Config("READ"), Config("NO_PERMISSIONS")], ids=str, indirect=True)
def test_permission_matrix(pair):
    def script(s: Server) -> None:
        setup_permission_matrix(s)
        for identity in IDENTITIES:
            run_identity(s, identity)

    run_both(pair, script)
    ours = assert_same(pair)
    # The matrix means something: each status occurs, and every identity was asked
    # every question (a missing key would be a script that stopped early).
    assert {200, 400, 401, 403} <= {v[0] for v in ours.values()}
    calls = {name for _, name in ours}
    assert len(ours) == len(IDENTITIES) * len(calls) - sum(
        1 for i in IDENTITIES if (i, "roles/permissions/remove") not in ours
    )


@pytest.mark.parametrize(
    "pair",
    [Config("NO_PERMISSIONS", workspaces=True)],
    ids=str,
    indirect=True,
)
def test_workspace_matrix(pair):
    def script(s: Server) -> None:
        setup_workspace_matrix(s)
        for identity in WS_USERS:
            run_workspace_identity(s, identity)

    run_both(pair, script)
    ours = assert_same(pair)
    # Membership decides: a member of ws-a sees its experiments there and none in ws-b.
    seen = {key: v[2] for key, v in ours.items() if key[1] == "experiments/search"}
    assert seen[("member-a@ws-a", "experiments/search")]
    assert (
        ours[("member-a@ws-b", "experiments/search")][0] == 403
        or not seen[("member-a@ws-b", "experiments/search")]
    )
