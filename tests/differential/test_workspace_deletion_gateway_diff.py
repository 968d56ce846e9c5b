"""Workspace deletion of AI gateway items (secrets, model definitions, endpoints with models,
tags, bindings and guardrail configs, guardrails, budget policies) against MLflow's SQL
workspace store, which treats them as workspace roots: RESTRICT refuses, CASCADE deletes,
SET_DEFAULT moves them, its preflight refusing names default already has. Compared call by
call (values or error code and message); gateway ids are random, so what a user sees is
compared by names."""

# ruff: noqa: F811 (the shared ``sides`` fixture is imported, then requested by name)
from __future__ import annotations

from mlflow.entities import GatewayEndpointTag
from mlflow.entities.gateway_budget_policy import (
    BudgetAction,
    BudgetDuration,
    BudgetDurationUnit,
    BudgetTargetScope,
    BudgetUnit,
)
from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential.scenarios.ai_gateway import primary
from tests.differential.scenarios.scorers import judge
from tests.differential.test_workspace_deletion_diff import (
    Side,
    attempt,
    compare,
    sides,  # noqa: F401
)

RESTRICT, CASCADE, SET_DEFAULT = (
    WorkspaceDeletionMode.RESTRICT,
    WorkspaceDeletionMode.CASCADE,
    WorkspaceDeletionMode.SET_DEFAULT,
)


def populate_gateway(side: Side, workspace: str, prefix: str = "", guardrail: bool = True) -> None:
    """One of each gateway item in ``workspace`` (the guardrail's scorer in an experiment)."""
    store = side.tracking
    with WorkspaceContext(workspace):
        s = store.create_gateway_secret(f"{prefix}key", {"api_key": "sk-1111111111"})
        d = store.create_gateway_model_definition(f"{prefix}def", s.secret_id, "openai", "gpt-4o")
        e = store.create_gateway_endpoint(
            f"{prefix}chat", [primary(d.model_definition_id)], usage_tracking=False
        )
        store.set_gateway_endpoint_tag(e.endpoint_id, GatewayEndpointTag("team", prefix or "a"))
        store.create_endpoint_binding(e.endpoint_id, "scorer", f"{prefix}res")
        store.create_budget_policy(
            BudgetUnit.USD,
            10,
            BudgetDuration(unit=BudgetDurationUnit.DAYS, value=1),
            BudgetTargetScope.ENDPOINT,
            BudgetAction.ALERT,
            target_value=e.endpoint_id,
        )
        if guardrail:
            experiment = store.create_experiment(f"{prefix}guarded")
            scorer = store.register_scorer(experiment, "polite", judge())
            g = store.create_gateway_guardrail(
                f"{prefix}guard",
                scorer.scorer_id,
                1,
                GuardrailStage.BEFORE,
                GuardrailAction.VALIDATION,
            )
            store.add_guardrail_to_endpoint(e.endpoint_id, g.guardrail_id)


def gateway_contents(side: Side, workspace: str, configs: bool = True) -> list:
    """What a user of ``workspace`` sees of the gateway (by name: ids are random);
    ``configs``: with each endpoint's guardrail configs."""
    store = side.tracking
    with WorkspaceContext(workspace):
        endpoints = sorted(store.list_gateway_endpoints(), key=lambda e: e.name)
        by_id = {e.endpoint_id: e.name for e in endpoints}
        guardrails = {g.guardrail_id: g.name for g in store.list_gateway_guardrails()}
        return [
            sorted(s.secret_name for s in store.list_secret_infos()),
            sorted(d.name for d in store.list_gateway_model_definitions()),
            [
                (
                    e.name,
                    sorted(m.model_definition.name for m in e.model_mappings),
                    sorted((t.key, t.value) for t in e.tags),
                    sorted(
                        guardrails.get(c.guardrail_id, "?")
                        for c in store.list_endpoint_guardrail_configs(e.endpoint_id)
                    )
                    if configs
                    else None,
                )
                for e in endpoints
            ],
            sorted(
                (by_id.get(b.endpoint_id), b.resource_id) for b in store.list_endpoint_bindings()
            ),
            sorted(guardrails.values()),
            sorted(
                (float(p.budget_amount), by_id.get(p.target_value))
                for p in store.list_budget_policies()
            ),
        ]


def test_restrict_refuses_each_gateway_table_in_sql_order(sides):
    def scenario(side: Side) -> list:
        p, store = side.provider, side.tracking
        p.create_workspace(Workspace("team-a"))
        populate_gateway(side, "team-a", guardrail=False)
        out = []
        with WorkspaceContext("team-a"):
            # Remove the reported table's items, one table after the other.
            out.append(attempt(lambda: p.delete_workspace("team-a", RESTRICT)))
            store.delete_gateway_secret(store.list_secret_infos()[0].secret_id)
            out.append(attempt(lambda: p.delete_workspace("team-a", RESTRICT)))
            store.delete_gateway_endpoint(store.list_gateway_endpoints()[0].endpoint_id)
            out.append(attempt(lambda: p.delete_workspace("team-a", RESTRICT)))
            definition = store.list_gateway_model_definitions()[0]
            store.delete_gateway_model_definition(definition.model_definition_id)
            out.append(attempt(lambda: p.delete_workspace("team-a", RESTRICT)))
            for policy in store.list_budget_policies():
                store.delete_budget_policy(policy.budget_policy_id)
        out.append(gateway_contents(side, "team-a"))
        p.delete_workspace("team-a", RESTRICT)
        out.append(sorted(w.name for w in p.list_workspaces()))
        return out

    compare(sides, scenario)


def test_cascade_removes_gateway_items(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        # No guardrail: the SQL store's CASCADE fails on one (its experiments go first, and
        # the guardrail's foreign key to the scorer version refuses); ours deletes it, see
        # tests/integration/test_workspace_deletion.py.
        populate_gateway(side, "team-a", guardrail=False)
        populate_gateway(side, "default", prefix="d-")
        p.delete_workspace("team-a", CASCADE)
        return [
            sorted(w.name for w in p.list_workspaces()),
            gateway_contents(side, "default"),
            # A workspace re-created under the name starts without the old gateway items.
            p.create_workspace(Workspace("team-a")).name,
            gateway_contents(side, "team-a"),
        ]

    compare(sides, scenario)


def test_set_default_moves_gateway_items(sides):
    def scenario(side: Side) -> list:
        p, store = side.provider, side.tracking
        p.create_workspace(Workspace("team-a"))
        populate_gateway(side, "team-a")
        populate_gateway(side, "default", prefix="d-", guardrail=False)
        p.delete_workspace("team-a", SET_DEFAULT)
        with WorkspaceContext("default"):
            # Moved names are taken in default now.
            secret = store.list_secret_infos()[0]
            taken = [
                attempt(
                    lambda: store.create_gateway_secret("key", {"api_key": "x" * 12}),
                    message=False,
                ),
                attempt(
                    lambda: store.create_gateway_model_definition(
                        "def", secret.secret_id, "openai", "gpt-4o"
                    ),
                    message=False,
                ),
            ]
        return [
            sorted(w.name for w in p.list_workspaces()),
            gateway_contents(side, "default", configs=False),
            taken,
            p.create_workspace(Workspace("team-a")).name,
            gateway_contents(side, "team-a"),
            gateway_contents(side, "default")[2],
        ]

    sql, ddb = sides
    expected, actual = scenario(sql), scenario(ddb)
    assert actual[:-1] == expected[:-1]
    # Deliberate difference: the SQL store moves only the root tables' workspace column,
    # leaving the endpoint's guardrail config rows in the deleted workspace (invisible in
    # default); ours moves the configs with their endpoint.
    assert [configs for *_, configs in expected[-1]] == [[], []]
    assert [configs for *_, configs in actual[-1]] == [["guard"], []]


def test_set_default_preflight_refuses_gateway_name_conflicts(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate_gateway(side, "team-a")
        # endpoint, model definition and guardrail names as in team-a, secret renamed
        populate_gateway(side, "default")
        with WorkspaceContext("default"):
            store = side.tracking
            secret = next(s for s in store.list_secret_infos() if s.secret_name == "key")
        return [
            # the SQL store's preflight lists names of every named table (not secrets')
            attempt(lambda: p.delete_workspace("team-a", SET_DEFAULT)),
            sorted(w.name for w in p.list_workspaces()),
            gateway_contents(side, "team-a"),
            gateway_contents(side, "default"),
            secret.secret_name,
        ]

    compare(sides, scenario)


def test_set_default_refuses_secret_name_conflict(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate_gateway(side, "team-a", guardrail=False)
        with WorkspaceContext("default"):
            side.tracking.create_gateway_secret("key", {"api_key": "sk-2222222222"})
        error = attempt(lambda: p.delete_workspace("team-a", SET_DEFAULT))
        return [
            # SQL's UPDATE fails on the unique secret name; its message ends in the
            # driver's text, so only the code and the message's first sentence compare.
            (error[0], error[1], error[2].split(". Error:")[0]),
            sorted(w.name for w in p.list_workspaces()),
            gateway_contents(side, "team-a"),
            gateway_contents(side, "default"),
        ]

    compare(sides, scenario)
