"""The calls of the permission matrix (tests/integration/test_auth_matrix_http.py): every
endpoint as one identity, recorded by ``Server.check``; the client, identities, summaries
and setup are in auth_matrix.py."""

from __future__ import annotations

import requests

from tests.integration.auth_matrix import (
    API2,
    API3,
    EXP,
    GRANTS,
    IDENTITIES,
    LEVELS,
    LMS,
    MODELS,
    OWNER,
    PASSWORD,
    PROXY,
    ROLES,
    RUNS,
    TRACES,
    USERS,
    VERSIONS,
    WORKSPACES,
    WS_USERS,
    Server,
    basic,
    experiments_seen,
    location,
    logged_models_seen,
    models_seen,
    payload,
    permissions_seen,
    role_users_seen,
    roles_seen,
    runs_seen,
    trace_id,
    trace_info,
    traces_seen,
    user_of,
    users_seen,
    versions_seen,
    ws_auth,
    ws_resources,
)


# ---- the matrix -----------------------------------------------------------------------
def run_identity(
    s: Server,
    identity: str,
    *,
    resources: str | None = None,
    auth: str | None = None,
    me: str | None = None,
    workspace: str | None = None,
    key: str | None = None,
) -> None:
    """Every call of the matrix as ``identity`` (``auth``: its header, ``me``: its user name)
    on the resources labelled ``resources`` (default: the identity's own), recorded under
    ``key`` (default: the identity): reads, then writes, then deletes (so a delete does not
    turn later checks into 404s)."""
    p = resources or identity
    auth = auth if auth is not None else IDENTITIES[identity]
    record_as = key or identity
    exp, run, run2, lm = (s.ids[f"{p}.{k}"] for k in ("exp", "run", "run2", "lm"))
    model, trace, victim, role = (
        f"model-{p}",
        trace_id(f"{p}.trace"),
        f"victim-{p}",
        s.ids[f"{p}.role"],
    )
    artifacts = s.ids[f"{p}.run.artifacts"]
    me = me or (user_of(identity) if identity in LEVELS else user_of("READ"))

    def check(name: str, method: str, path: str, summary=None, **kw) -> requests.Response:
        return s.check((record_as, name), method, path, auth, summary, workspace=workspace, **kw)

    # Experiments.
    check("experiments/get", "GET", f"{EXP}/get", params={"experiment_id": exp})
    check(
        "experiments/get-by-name",
        "GET",
        f"{EXP}/get-by-name",
        params={"experiment_name": f"exp-{p}"},
    )
    check(
        "experiments/search", "POST", f"{EXP}/search", experiments_seen, json={"max_results": 1000}
    )
    check(
        "experiments/set-experiment-tag",
        "POST",
        f"{EXP}/set-experiment-tag",
        json={"experiment_id": exp, "key": "k", "value": "v"},
    )
    created = check("experiments/create", "POST", f"{EXP}/create", json={"name": f"new-{p}"})
    if created.status_code == 200:
        s.ids[f"{p}.new-exp"] = created.json()["experiment_id"]
    # Runs.
    check("runs/get", "GET", f"{RUNS}/get", params={"run_id": run})
    check("runs/search", "POST", f"{RUNS}/search", runs_seen, json={"experiment_ids": [exp]})
    check(
        "metrics/get-history",
        "GET",
        f"{API2}/metrics/get-history",
        params={"run_id": run, "metric_key": "m"},
    )
    check("runs/create", "POST", f"{RUNS}/create", json={"experiment_id": exp})
    check(
        "runs/log-metric",
        "POST",
        f"{RUNS}/log-metric",
        json={"run_id": run, "key": "m2", "value": 2, "timestamp": 2, "step": 1},
    )
    check(
        "runs/log-batch",
        "POST",
        f"{RUNS}/log-batch",
        json={"run_id": run, "params": [{"key": "p2", "value": "2"}]},
    )
    check(
        "runs/set-tag", "POST", f"{RUNS}/set-tag", json={"run_id": run, "key": "t2", "value": "v"}
    )
    check("runs/update", "POST", f"{RUNS}/update", json={"run_id": run, "status": "FINISHED"})
    # Artifacts: the tracking API's listing, the UI's download route and the proxy.
    check("artifacts/list", "GET", f"{API2}/artifacts/list", params={"run_id": run})
    check("get-artifact", "GET", "/get-artifact", params={"run_id": run, "path": "f.txt"})
    check("mlflow-artifacts/list", "GET", PROXY, params={"path": artifacts})
    check("mlflow-artifacts/download", "GET", f"{PROXY}/{artifacts}/f.txt")
    check("mlflow-artifacts/upload", "PUT", f"{PROXY}/{artifacts}/h.txt", data=b"new")
    # Traces.
    check("traces/start", "POST", TRACES, json=trace_info(f"{p}.new-trace", exp))
    check("traces/get", "GET", f"{TRACES}/{trace}")
    check(
        "traces/search",
        "POST",
        f"{TRACES}/search",
        traces_seen,
        json={"locations": [location(exp)], "max_results": 100},
    )
    check("traces/set-tag", "PATCH", f"{TRACES}/{trace}/tags", json={"key": "t2", "value": "v"})
    check("traces/delete-tag", "DELETE", f"{TRACES}/{trace}/tags", json={"key": "t"})
    # Registered models, versions, aliases.
    check("registered-models/get", "GET", f"{MODELS}/get", params={"name": model})
    check(
        "registered-models/search",
        "GET",
        f"{MODELS}/search",
        models_seen,
        params={"max_results": 1000},
    )
    check(
        "registered-models/update",
        "PATCH",
        f"{MODELS}/update",
        json={"name": model, "description": "d"},
    )
    check(
        "registered-models/set-tag",
        "POST",
        f"{MODELS}/set-tag",
        json={"name": model, "key": "k", "value": "v"},
    )
    check("model-versions/get", "GET", f"{VERSIONS}/get", params={"name": model, "version": "1"})
    check(
        "model-versions/search",
        "GET",
        f"{VERSIONS}/search",
        versions_seen,
        params={"filter": f"name='{model}'"},
    )
    check(
        "model-versions/update",
        "PATCH",
        f"{VERSIONS}/update",
        json={"name": model, "version": "1", "description": "d"},
    )
    check(
        "model-versions/get-download-uri",
        "GET",
        f"{VERSIONS}/get-download-uri",
        params={"name": model, "version": "1"},
    )
    check(
        "model-versions/create",
        "POST",
        f"{VERSIONS}/create",
        json={"name": model, "source": f"mlflow-artifacts:/{artifacts}/model", "run_id": run},
    )
    check(
        "registered-models/alias get",
        "GET",
        f"{MODELS}/alias",
        params={"name": model, "alias": "champion"},
    )
    check(
        "registered-models/alias set",
        "POST",
        f"{MODELS}/alias",
        json={"name": model, "alias": "second", "version": "2"},
    )
    # Logged models.
    check("logged-models/get", "GET", f"{LMS}/{lm}")
    check(
        "logged-models/search",
        "POST",
        f"{LMS}/search",
        logged_models_seen,
        json={"experiment_ids": [exp]},
    )
    check(
        "logged-models/set-tags",
        "PATCH",
        f"{LMS}/{lm}/tags",
        json={"tags": [{"key": "k", "value": "v"}]},
    )
    check("logged-models/create", "POST", LMS, json={"experiment_id": exp, "name": "lm2"})
    # The auth API: users.
    check("users/current", "GET", f"{USERS}/current")
    check("users/get self", "GET", f"{USERS}/get", params={"username": me})
    check("users/get other", "GET", f"{USERS}/get", params={"username": OWNER})
    check("users/list", "GET", f"{USERS}/list", users_seen)
    check(
        "users/create",
        "POST",
        f"{USERS}/create",
        json={"username": f"new-{p}", "password": PASSWORD},
    )
    # A new password, then the old one back (the identity's later calls use it).
    for step, password in (("", PASSWORD + "-new"), (" back", PASSWORD)):
        changed = check(
            f"users/update-password self{step}",
            "PATCH",
            f"{USERS}/update-password",
            json={"username": me, "password": password},
        )
        if changed.status_code == 200:
            auth = basic(me, password)
    check(
        "users/update-password other",
        "PATCH",
        f"{USERS}/update-password",
        json={"username": victim, "password": PASSWORD},
    )
    check(
        "users/update-admin other",
        "PATCH",
        f"{USERS}/update-admin",
        json={"username": victim, "is_admin": False},
    )
    # Per-user grants.
    on_exp = {"resource_type": "experiment", "resource_id": exp}
    check(
        "permissions/get self", "GET", f"{GRANTS}/get", payload, params={"username": me, **on_exp}
    )
    check(
        "permissions/get other",
        "GET",
        f"{GRANTS}/get",
        payload,
        params={"username": victim, **on_exp},
    )
    check(
        "permissions/grant",
        "POST",
        f"{GRANTS}/grant",
        json={"username": victim, **on_exp, "permission": "READ"},
    )
    check(
        "permissions/list self", "GET", f"{GRANTS}/list", permissions_seen, params={"username": me}
    )
    check(
        "permissions/list other",
        "GET",
        f"{GRANTS}/list",
        permissions_seen,
        params={"username": victim},
    )
    check("users/current/permissions", "GET", f"{API3}/users/current/permissions", permissions_seen)
    check("permissions/revoke", "POST", f"{GRANTS}/revoke", json={"username": victim, **on_exp})
    # Roles.
    role_q = {"role_id": role}
    check(
        "roles/list workspace",
        "GET",
        f"{ROLES}/list",
        roles_seen,
        params={"workspace": workspace or "default"},
    )
    check("roles/list all", "GET", f"{ROLES}/list", roles_seen)
    check("roles/get", "GET", f"{ROLES}/get", params=role_q)
    check(
        "roles/create",
        "POST",
        f"{ROLES}/create",
        json={"name": f"by-{p}", "workspace": workspace or "default"},
    )
    check("roles/update", "PATCH", f"{ROLES}/update", json={**role_q, "description": "d"})
    added = check(
        "roles/permissions/add",
        "POST",
        f"{ROLES}/permissions/add",
        json={
            **role_q,
            "resource_type": "experiment",
            "resource_pattern": exp,
            "permission": "READ",
        },
    )
    check(
        "roles/permissions/list",
        "GET",
        f"{ROLES}/permissions/list",
        permissions_seen,
        params=role_q,
    )
    check("roles/assign", "POST", f"{ROLES}/assign", json={**role_q, "username": victim})
    check("roles/users/list", "GET", f"{ROLES}/users/list", role_users_seen, params=role_q)
    check(
        "users/roles/list",
        "GET",
        f"{API3}/users/roles/list",
        roles_seen,
        params={"username": victim},
    )
    check("roles/unassign", "DELETE", f"{ROLES}/unassign", json={**role_q, "username": victim})
    if added.status_code == 200:
        rp = str(added.json()["role_permission"]["id"])
        check(
            "roles/permissions/remove",
            "DELETE",
            f"{ROLES}/permissions/remove",
            json={"role_permission_id": rp},
        )
    # Deletes, last.
    check("mlflow-artifacts/delete", "DELETE", f"{PROXY}/{artifacts}/g.txt")
    check(
        "registered-models/alias delete",
        "DELETE",
        f"{MODELS}/alias",
        json={"name": model, "alias": "champion"},
    )
    check(
        "model-versions/delete",
        "DELETE",
        f"{VERSIONS}/delete",
        json={"name": model, "version": "2"},
    )
    check(
        "traces/delete",
        "POST",
        f"{TRACES}/delete-traces",
        json={"experiment_id": exp, "request_ids": [trace]},
    )
    check("logged-models/delete", "DELETE", f"{LMS}/{lm}")
    check("runs/delete", "POST", f"{RUNS}/delete", json={"run_id": run2})
    renamed = check(
        "registered-models/rename",
        "POST",
        f"{MODELS}/rename",
        json={"name": model, "new_name": f"{model}-renamed"},
    )
    check(
        "registered-models/delete",
        "DELETE",
        f"{MODELS}/delete",
        json={"name": f"{model}-renamed" if renamed.status_code == 200 else model},
    )
    check(
        "experiments/update",
        "POST",
        f"{EXP}/update",
        json={"experiment_id": exp, "new_name": f"exp-{p}-renamed"},
    )
    check("experiments/delete", "POST", f"{EXP}/delete", json={"experiment_id": exp})
    check("roles/delete", "DELETE", f"{ROLES}/delete", params=role_q)
    check("users/delete other", "DELETE", f"{USERS}/delete", json={"username": victim})


def run_workspace_identity(s: Server, identity: str) -> None:
    """``identity`` in each workspace: what it sees there (workspaces, experiments), the
    other workspace's experiment asked for from this one, then the whole matrix on the
    resources made for it in that workspace."""
    auth, me = ws_auth(identity), WS_USERS[identity][0]
    for workspace in WORKSPACES:
        key = f"{identity}@{workspace}"
        other = next(w for w in WORKSPACES if w != workspace)
        theirs = s.ids[f"{ws_resources(identity, other)}.exp"]
        s.check(
            (key, "workspaces/list"),
            "GET",
            f"{API3}/workspaces",
            auth,
            lambda _, body: sorted(w["name"] for w in body.get("workspaces", [])),
        )
        s.check((key, "workspaces/get"), "GET", f"{API3}/workspaces/{workspace}", auth)
        s.check(
            (key, "experiments/get of the other workspace"),
            "GET",
            f"{EXP}/get",
            auth,
            params={"experiment_id": theirs},
            workspace=workspace,
        )
        run_identity(
            s,
            identity,
            resources=ws_resources(identity, workspace),
            auth=auth,
            me=me or "outsider",
            workspace=workspace,
            key=key,
        )
