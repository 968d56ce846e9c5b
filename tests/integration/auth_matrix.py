"""The permission matrix both auth servers run (tests/integration/test_auth_matrix_http.py):
the HTTP client, identities, listing summaries and setup; the calls are in
auth_matrix_calls.py.

``Server`` drives one ``mlflow server`` with a ``requests.Session``: every call names an
identity (an ``Authorization`` header or none), is recorded as (status, error_code, a
summary of what a successful listing returned, by label) and nothing is hand-written: the
same script runs against ``--app-name basic-auth`` on SQLite and ``--app-name
dynamodb-auth`` on DynamoDB Local and the two records are compared. Ids differ between the
servers (experiment, run, logged-model, role ids), so the script keeps each server's ids by
label and summaries map ids back to labels; trace ids are chosen by the script.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests

from tests.integration.auth_servers import ADMIN, ADMIN_PASSWORD

API2, API3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
EXP, RUNS, MODELS, VERSIONS = (
    f"{API2}/experiments",
    f"{API2}/runs",
    f"{API2}/registered-models",
    f"{API2}/model-versions",
)
LMS, TRACES, PROXY = (
    f"{API2}/logged-models",
    f"{API3}/traces",
    "/api/2.0/mlflow-artifacts/artifacts",
)
USERS, GRANTS, ROLES = f"{API2}/users", f"{API3}/users/permissions", f"{API3}/roles"

PASSWORD = "matrix-password-123"
OWNER = "owner"
# A user holding each level on its own experiment and registered model (no grant at all
# for "no-grant"); "admin" is a second super admin (the bootstrap one runs the setup).
LEVELS = {
    "no-grant": None,
    "READ": "READ",
    "USE": "USE",
    "EDIT": "EDIT",
    "MANAGE": "MANAGE",
    "DENY": "DENY",
    "admin": None,
}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def user_of(identity: str) -> str:
    return f"u-{identity.lower()}"


# Identity -> Authorization header (None: no header).
IDENTITIES: dict[str, str | None] = {
    "anonymous": None,
    "wrong-password": basic(user_of("READ"), "not-the-password"),
    "not-base64": "Basic !!!not-base64",
    "no-colon": "Basic " + base64.b64encode(user_of("READ").encode()).decode(),
    "bearer": "Bearer some-token",
    **{identity: basic(user_of(identity), PASSWORD) for identity in LEVELS},
}


def trace_id(label: str) -> str:
    """The same trace id on both servers (the client chooses it)."""
    return "tr-" + hashlib.md5(label.encode()).hexdigest()


def location(experiment_id: str) -> dict:
    return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}


def trace_info(label: str, experiment_id: str) -> dict:
    return {
        "trace": {
            "trace_info": {
                "trace_id": trace_id(label),
                "trace_location": location(experiment_id),
                "request_time": "2024-01-01T00:00:00Z",
                "execution_duration": "1s",
                "state": "OK",
            }
        }
    }


@dataclass
class Server:
    url: str
    ids: dict[str, str] = field(default_factory=dict)
    record: dict[tuple, tuple] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        # Each call carries its own identity: no cookie may carry one into the next call.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def label_of(self, value: str) -> str:
        reverse = {v: k for k, v in self.ids.items()}
        return reverse.get(value, "?")

    def request(
        self,
        method: str,
        path: str,
        auth: str | None,
        *,
        json=None,
        params=None,
        data=None,
        workspace: str | None = None,
    ) -> requests.Response:
        headers = {"Authorization": auth} if auth else {}
        if workspace:
            headers["X-MLFLOW-WORKSPACE"] = workspace
        return self.session.request(
            method,
            self.url + path,
            headers=headers,
            json=json,
            params=params,
            data=data,
            timeout=60,
        )

    def setup(self, method: str, path: str, auth: str | None = None, **kw) -> dict:
        """A setup call, which must succeed."""
        r = self.request(method, path, auth or basic(ADMIN, ADMIN_PASSWORD), **kw)
        assert r.status_code in (200, 201), (method, path, kw, r.status_code, r.text[:500])
        return r.json() if r.content and "json" in r.headers.get("Content-Type", "") else {}

    def check(
        self,
        key: tuple,
        method: str,
        path: str,
        auth: str | None,
        summary: Callable[[Server, Any], Any] | None = None,
        **kw,
    ) -> requests.Response:
        """A matrix call: (status, error_code, summary of a successful answer) under key."""
        r = self.request(method, path, auth, **kw)
        try:
            body = r.json()
        except ValueError:
            body = None
        code = body.get("error_code") if isinstance(body, dict) else None
        seen = summary(self, body) if summary and r.status_code == 200 else None
        self.record[key] = (r.status_code, code, seen)
        return r


# ---- summaries of listings: what was visible, by label --------------------------------
def experiments_seen(server: Server, body: dict) -> list[str]:
    return sorted(server.label_of(e["experiment_id"]) for e in body.get("experiments", []))


def runs_seen(server: Server, body: dict) -> list[str]:
    return sorted(server.label_of(r["info"]["run_id"]) for r in body.get("runs", []))


def models_seen(server: Server, body: dict) -> list[str]:
    return sorted(m["name"] for m in body.get("registered_models", []))


def versions_seen(server: Server, body: dict) -> list[str]:
    return sorted(f"{v['name']}/{v['version']}" for v in body.get("model_versions", []))


def traces_seen(server: Server, body: dict) -> list[str]:
    return sorted(t["trace_id"] for t in body.get("traces", []))


def logged_models_seen(server: Server, body: dict) -> list[str]:
    return sorted(server.label_of(m["info"]["model_id"]) for m in body.get("models", []))


def users_seen(server: Server, body: dict) -> list[str]:
    return sorted(u["username"] for u in body.get("users", []))


def roles_seen(server: Server, body: dict) -> list[str]:
    return sorted(f"{r['workspace']}/{r['name']}" for r in body.get("roles", []))


def permissions_seen(server: Server, body: dict) -> list:
    """Grants by (resource type, resource label or pattern, permission)."""
    rows = body.get("permissions") or body.get("role_permissions") or []
    out = []
    for p in rows:
        if not isinstance(p, dict):
            continue
        rid = str(p.get("resource_id") or p.get("resource_pattern") or p.get("experiment_id") or "")
        label = server.label_of(rid) if rid in server.ids.values() else rid
        out.append((p.get("resource_type"), label, p.get("permission")))
    return sorted(map(str, out))


def role_users_seen(server: Server, body: dict) -> list[str]:
    return sorted(str(u.get("username", u.get("user_id"))) for u in body.get("users", []))


def payload(server: Server, body: Any) -> Any:
    """Answers without ids (e.g. users/permissions/get): compared as they are."""
    return body


# ---- setup ----------------------------------------------------------------------------
def create_users(s: Server) -> None:
    admin = basic(ADMIN, ADMIN_PASSWORD)
    for name in [OWNER, *(user_of(i) for i in LEVELS), *(f"victim-{i}" for i in IDENTITIES)]:
        s.setup("POST", f"{USERS}/create", admin, json={"username": name, "password": PASSWORD})
    s.setup(
        "PATCH",
        f"{USERS}/update-admin",
        admin,
        json={"username": user_of("admin"), "is_admin": True},
    )


def create_resources(
    s: Server, p: str, workspace: str | None = None, owner: str | None = None
) -> None:
    """One experiment (with a run, a logged model, a trace and an artifact) and one
    registered model (a version, an alias) created by ``owner`` (an Authorization header;
    default OWNER), labelled ``p.*``; a role in the workspace."""
    owner = owner or basic(OWNER, PASSWORD)
    ws = {"workspace": workspace}
    s.ids[f"{p}.exp"] = exp = s.setup(
        "POST", f"{EXP}/create", owner, json={"name": f"exp-{p}"}, **ws
    )["experiment_id"]
    for label in ("run", "run2"):
        run = s.setup("POST", f"{RUNS}/create", owner, json={"experiment_id": exp}, **ws)["run"][
            "info"
        ]
        s.ids[f"{p}.{label}"] = run["run_id"]
        s.ids[f"{p}.{label}.artifacts"] = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    s.setup(
        "POST",
        f"{RUNS}/log-batch",
        owner,
        json={
            "run_id": s.ids[f"{p}.run"],
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "t", "value": "v"}],
        },
        **ws,
    )
    for name in ("f.txt", "g.txt"):
        s.setup("PUT", f"{PROXY}/{s.ids[f'{p}.run.artifacts']}/{name}", owner, data=b"hello", **ws)
    s.ids[f"{p}.lm"] = s.setup("POST", LMS, owner, json={"experiment_id": exp, "name": "lm"}, **ws)[
        "model"
    ]["info"]["model_id"]
    s.setup("POST", TRACES, owner, json=trace_info(f"{p}.trace", exp), **ws)
    s.setup(
        "PATCH",
        f"{TRACES}/{trace_id(f'{p}.trace')}/tags",
        owner,
        json={"key": "t", "value": "v"},
        **ws,
    )
    model = f"model-{p}"
    s.setup("POST", f"{MODELS}/create", owner, json={"name": model}, **ws)
    for _ in range(2):
        s.setup(
            "POST",
            f"{VERSIONS}/create",
            owner,
            json={
                "name": model,
                "source": f"mlflow-artifacts:/{s.ids[f'{p}.run.artifacts']}/model",
                "run_id": s.ids[f"{p}.run"],
            },
            **ws,
        )
    s.setup(
        "POST",
        f"{MODELS}/alias",
        owner,
        json={"name": model, "alias": "champion", "version": "1"},
        **ws,
    )
    role = s.setup(
        "POST", f"{ROLES}/create", json={"name": f"role-{p}", "workspace": workspace or "default"}
    )["role"]
    s.ids[f"{p}.role"] = str(role["id"])


def grant_levels(s: Server, p: str, identity: str) -> None:
    level = LEVELS.get(identity)
    if not level:
        return
    for resource_type, resource_id in (
        ("experiment", s.ids[f"{p}.exp"]),
        ("registered_model", f"model-{p}"),
    ):
        s.setup(
            "POST",
            f"{GRANTS}/grant",
            json={
                "username": user_of(identity),
                "resource_type": resource_type,
                "resource_id": resource_id,
                "permission": level,
            },
        )


def setup_permission_matrix(s: Server) -> None:
    create_users(s)
    for identity in IDENTITIES:
        create_resources(s, identity)
        grant_levels(s, identity, identity)


# ---- workspaces -----------------------------------------------------------------------
WORKSPACES = ("ws-a", "ws-b")
# Workspace identity -> (user name or None, the (workspace, permission) roles it holds).
WS_USERS: dict[str, tuple[str | None, list[tuple[str, str]]]] = {
    "anonymous": (None, []),
    "outsider": ("outsider", []),
    "member-a": ("member-a", [("ws-a", "USE")]),
    "manager-a": ("manager-a", [("ws-a", "MANAGE")]),
    "member-b": ("member-b", [("ws-b", "USE")]),
    "admin": (user_of("admin"), []),
}


def ws_auth(identity: str) -> str | None:
    name = WS_USERS[identity][0]
    return basic(name, PASSWORD) if name else None


def ws_resources(identity: str, workspace: str) -> str:
    return f"{identity}-in-{workspace}"


def setup_workspace_matrix(s: Server) -> None:
    """Workspaces ws-a and ws-b; membership only through roles holding (workspace, *, USE)
    or (workspace, *, MANAGE); resources (created by the bootstrap admin) in both
    workspaces for each identity."""
    admin = basic(ADMIN, ADMIN_PASSWORD)
    for workspace in WORKSPACES:
        s.setup("POST", f"{API3}/workspaces", admin, json={"name": workspace})
    labels = [ws_resources(i, w) for i in WS_USERS for w in WORKSPACES]
    names = [n for n, _ in WS_USERS.values() if n] + [f"victim-{p}" for p in labels]
    for name in names:
        s.setup("POST", f"{USERS}/create", admin, json={"username": name, "password": PASSWORD})
    s.setup(
        "PATCH",
        f"{USERS}/update-admin",
        admin,
        json={"username": user_of("admin"), "is_admin": True},
    )
    for identity, (name, memberships) in WS_USERS.items():
        for workspace, level in memberships:
            role = s.setup(
                "POST",
                f"{ROLES}/create",
                admin,
                json={"name": f"{identity}-role", "workspace": workspace},
            )["role"]
            s.setup(
                "POST",
                f"{ROLES}/permissions/add",
                admin,
                json={
                    "role_id": role["id"],
                    "resource_type": "workspace",
                    "resource_pattern": "*",
                    "permission": level,
                },
            )
            s.setup(
                "POST", f"{ROLES}/assign", admin, json={"role_id": role["id"], "username": name}
            )
    for label in labels:
        create_resources(s, label, workspace=label.rsplit("-in-", 1)[1], owner=admin)
