"""AI gateway scenarios: secrets, model definitions, endpoints (tags, attached models), bad
input; messages compared unless a scenario says otherwise.

Gateway ids (``s-``, ``d-``, ``e-``, ``m-`` + 32 hex digits) are random in both stores:
``_norm`` replaces them by ``<s0>``, ``<d0>``... in order of appearance, messages included.
"""

from __future__ import annotations

import json
import re
from functools import partial

from mlflow.entities import (
    FallbackConfig,
    GatewayEndpointModelConfig,
    GatewayEndpointTag,
    RoutingStrategy,
)
from mlflow.entities.gateway_endpoint import FallbackStrategy, GatewayModelLinkageType
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential import harness
from tests.differential.harness import attempt, to_plain

scenario = partial(harness.scenario, messages=True)

UNICODE = "ünïcødé ✓ 名前 🚀"
_GATEWAY_ID = re.compile(r"\b([sdem]|gr|bp)-[0-9a-f]{32}\b")
# scorer ids (uuid4) and online config ids (32 hex digits)
_OTHER_IDS = (
    ("scorer", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")),
    ("config", re.compile(r"\b[0-9a-f]{32}\b")),
)


def _norm(value):
    ids: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        kind = match.group(1)
        if match.group(0) not in ids:
            ids[match.group(0)] = f"<{kind}{sum(v.startswith(f'<{kind}') for v in ids.values())}>"
        return ids[match.group(0)]

    text = _GATEWAY_ID.sub(replace, json.dumps(_mappings_sorted(to_plain(value)), sort_keys=True))
    for kind, pattern in _OTHER_IDS:
        text = _placeholders(pattern, kind, text)
    return json.loads(text)


def _mappings_sorted(value):
    """An endpoint's models in a defined order (the SQL store's relationship has none)."""
    if isinstance(value, list):
        return [_mappings_sorted(v) for v in value]
    if isinstance(value, dict):
        out = {k: _mappings_sorted(v) for k, v in value.items()}
        if isinstance(out.get("model_mappings"), list):
            out["model_mappings"].sort(
                key=lambda m: (
                    str(m.get("linkage_type")),
                    str((m.get("model_definition") or {}).get("name")),
                )
            )
        return out
    return value


def _placeholders(pattern: re.Pattern, kind: str, text: str) -> str:
    seen: dict[str, str] = {}
    return pattern.sub(lambda m: seen.setdefault(m.group(0), f"<{kind}{len(seen)}>"), text)


def endpoints(store, **filters):
    """The SQL store lists endpoints through a DISTINCT join: in no defined order."""
    return sorted(store.list_gateway_endpoints(**filters), key=lambda e: e.name)


def bindings_of(store, **filters):
    """The SQL store's binding listing (a joined load) has no defined order either."""
    return sorted(
        store.list_endpoint_bindings(**filters), key=lambda b: (b.resource_id, b.created_at)
    )


def primary(model_definition_id: str, weight: float = 1.0) -> GatewayEndpointModelConfig:
    return GatewayEndpointModelConfig(
        model_definition_id=model_definition_id,
        linkage_type=GatewayModelLinkageType.PRIMARY,
        weight=weight,
    )


def fallback(model_definition_id: str, order: int) -> GatewayEndpointModelConfig:
    return GatewayEndpointModelConfig(
        model_definition_id=model_definition_id,
        linkage_type=GatewayModelLinkageType.FALLBACK,
        fallback_order=order,
    )


@scenario()
def secrets_lifecycle(store):
    out = []
    s1 = store.create_gateway_secret(
        "openai-key", {"api_key": "sk-abcdefghijklmnop"}, provider="openai", created_by="ann"
    )
    out.append(s1)
    out.append(
        store.create_gateway_secret(
            UNICODE,
            {"aws_access_key_id": "AKIA1234567890", "aws_secret_access_key": "x" * 40},
            provider="bedrock",
            auth_config={"auth_mode": "access_keys", "region": "eu-west-1"},
        )
    )
    out.append(attempt(lambda: store.create_gateway_secret("openai-key", {"api_key": "k2"})))
    out.append(store.get_secret_info(secret_id=s1.secret_id))
    out.append(store.get_secret_info(secret_name=UNICODE))
    out.append(attempt(lambda: store.get_secret_info(secret_id="s-missing")))
    out.append(attempt(lambda: store.get_secret_info(secret_name="nope")))
    out.append(attempt(lambda: store.get_secret_info()))
    out.append(attempt(lambda: store.get_secret_info(secret_id="a", secret_name="b")))
    out.append(store.list_secret_infos())
    out.append(store.list_secret_infos(provider="bedrock"))
    out.append(store.list_secret_infos(provider="none"))
    out.append(
        store.update_gateway_secret(
            s1.secret_id, secret_value={"api_key": "sk-rotated-9876543210"}, updated_by="bob"
        )
    )
    out.append(store.update_gateway_secret(s1.secret_id, auth_config={"org": "o1"}))
    out.append(store.update_gateway_secret(s1.secret_id, auth_config={}))
    out.append(attempt(lambda: store.update_gateway_secret("s-missing", auth_config={})))
    out.append(attempt(lambda: store.delete_gateway_secret("s-missing")))
    store.delete_gateway_secret(s1.secret_id)
    out.append(store.list_secret_infos())
    # the name is free again
    out.append(store.create_gateway_secret("openai-key", {"api_key": "sk-again-123456"}))
    return _norm(out)


@scenario()
def model_definitions(store):
    out = []
    s1 = store.create_gateway_secret("k1", {"api_key": "sk-1111111111"}, provider="openai")
    s2 = store.create_gateway_secret("k2", {"api_key": "sk-2222222222"}, provider="anthropic")
    d1 = store.create_gateway_model_definition("gpt", s1.secret_id, "openai", "gpt-4o", "ann")
    out.append(d1)
    d2 = store.create_gateway_model_definition(UNICODE, s2.secret_id, "anthropic", "claude")
    out.append(d2)
    out.append(
        attempt(lambda: store.create_gateway_model_definition("gpt", s2.secret_id, "x", "y"))
    )
    out.append(attempt(lambda: store.create_gateway_model_definition("new", "s-missing", "x", "y")))
    out.append(store.get_gateway_model_definition(model_definition_id=d1.model_definition_id))
    out.append(store.get_gateway_model_definition(name=UNICODE))
    out.append(attempt(lambda: store.get_gateway_model_definition(name="nope")))
    out.append(attempt(lambda: store.get_gateway_model_definition()))
    out.append(store.list_gateway_model_definitions())
    out.append(store.list_gateway_model_definitions(provider="openai"))
    out.append(store.list_gateway_model_definitions(secret_id=s2.secret_id))
    out.append(
        store.update_gateway_model_definition(
            d1.model_definition_id, name="gpt-renamed", secret_id=s2.secret_id, updated_by="bob"
        )
    )
    out.append(
        attempt(lambda: store.update_gateway_model_definition(d1.model_definition_id, name=UNICODE))
    )
    out.append(
        attempt(
            lambda: store.update_gateway_model_definition(
                d1.model_definition_id, secret_id="s-missing"
            )
        )
    )
    out.append(attempt(lambda: store.update_gateway_model_definition("d-missing", name="z")))
    out.append(
        store.update_gateway_model_definition(
            d2.model_definition_id, model_name="claude-2", provider="anthropic2"
        )
    )
    # the old name is free again
    out.append(store.create_gateway_model_definition("gpt", s1.secret_id, "openai", "gpt-4o"))
    # deleting a secret leaves its definitions without one (ON DELETE SET NULL)
    store.delete_gateway_secret(s2.secret_id)
    out.append(store.list_gateway_model_definitions())
    out.append(store.get_gateway_model_definition(model_definition_id=d2.model_definition_id))
    out.append(attempt(lambda: store.delete_gateway_model_definition("d-missing")))
    store.delete_gateway_model_definition(d2.model_definition_id)
    out.append(store.list_gateway_model_definitions())
    return _norm(out)


@scenario()
def endpoints_lifecycle(store):
    out = []
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"}, provider="openai")
    s2 = store.create_gateway_secret("k2", {"api_key": "sk-2222222222"}, provider="anthropic")
    d1 = store.create_gateway_model_definition("m1", s.secret_id, "openai", "gpt-4o")
    d2 = store.create_gateway_model_definition("m2", s.secret_id, "openai", "gpt-4o-mini")
    d3 = store.create_gateway_model_definition("m3", s2.secret_id, "anthropic", "claude")
    e1 = store.create_gateway_endpoint(
        "chat",
        [primary(d1.model_definition_id, 0.7), primary(d2.model_definition_id, 0.3)],
        created_by="ann",
        routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
    )
    out.append(e1)
    e2 = store.create_gateway_endpoint(
        UNICODE,
        [primary(d3.model_definition_id), fallback(d1.model_definition_id, 1)],
        fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=2),
        usage_tracking=False,
    )
    out.append(e2)
    out.append(attempt(lambda: store.create_gateway_endpoint("empty", [])))
    out.append(attempt(lambda: store.create_gateway_endpoint("bad", [primary("d-missing")])))
    out.append(store.get_gateway_endpoint(endpoint_id=e1.endpoint_id))
    out.append(store.get_gateway_endpoint(name=UNICODE))
    out.append(attempt(lambda: store.get_gateway_endpoint(endpoint_id="e-missing")))
    out.append(attempt(lambda: store.get_gateway_endpoint(name="nope")))
    out.append(attempt(lambda: store.get_gateway_endpoint()))
    out.append(endpoints(store))
    out.append(endpoints(store, provider="anthropic"))
    out.append(endpoints(store, secret_id=s.secret_id))
    out.append(endpoints(store, provider="none"))
    # tags
    store.set_gateway_endpoint_tag(e1.endpoint_id, GatewayEndpointTag("team", "ml"))
    store.set_gateway_endpoint_tag(e1.endpoint_id, GatewayEndpointTag(UNICODE, "ü"))
    store.set_gateway_endpoint_tag(e1.endpoint_id, GatewayEndpointTag("team", "ops"))
    out.append(attempt(lambda: store.set_gateway_endpoint_tag("e-x", GatewayEndpointTag("a", "b"))))
    store.delete_gateway_endpoint_tag(e1.endpoint_id, UNICODE)
    store.delete_gateway_endpoint_tag(e1.endpoint_id, "never-set")
    out.append(attempt(lambda: store.delete_gateway_endpoint_tag("e-x", "a")))
    out.append(store.get_gateway_endpoint(endpoint_id=e1.endpoint_id).tags)
    # attach / detach
    out.append(
        store.attach_model_to_endpoint(e1.endpoint_id, fallback(d3.model_definition_id, 1), "bob")
    )
    out.append(
        attempt(
            lambda: store.attach_model_to_endpoint(e1.endpoint_id, primary(d1.model_definition_id))
        )
    )
    out.append(
        attempt(lambda: store.attach_model_to_endpoint("e-x", primary(d1.model_definition_id)))
    )
    out.append(attempt(lambda: store.attach_model_to_endpoint(e1.endpoint_id, primary("d-x"))))
    out.append(store.get_gateway_endpoint(endpoint_id=e1.endpoint_id))
    # a definition in use cannot be deleted
    out.append(attempt(lambda: store.delete_gateway_model_definition(d3.model_definition_id)))
    store.detach_model_from_endpoint(e1.endpoint_id, d3.model_definition_id, "FALLBACK")
    out.append(
        attempt(lambda: store.detach_model_from_endpoint(e1.endpoint_id, d3.model_definition_id))
    )
    out.append(
        attempt(
            lambda: store.detach_model_from_endpoint(
                e1.endpoint_id, d1.model_definition_id, "FALLBACK"
            )
        )
    )
    out.append(attempt(lambda: store.detach_model_from_endpoint("e-x", d1.model_definition_id)))
    # update
    out.append(
        store.update_gateway_endpoint(
            e1.endpoint_id,
            name="chat-2",
            updated_by="bob",
            model_configs=[primary(d2.model_definition_id), fallback(d3.model_definition_id, 1)],
            fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=3),
        )
    )
    out.append(attempt(lambda: store.update_gateway_endpoint("e-x", name="q")))
    out.append(
        attempt(
            lambda: store.update_gateway_endpoint(e1.endpoint_id, model_configs=[primary("d-x")])
        )
    )
    out.append(store.update_gateway_endpoint(e2.endpoint_id, usage_tracking=True))
    out.append(
        store.update_gateway_endpoint(
            e2.endpoint_id, fallback_config=FallbackConfig(max_attempts=5)
        )
    )
    # d1 was detached from chat by the update: deletable; d3 is still in use by e2
    out.append(attempt(lambda: store.delete_gateway_model_definition(d3.model_definition_id)))
    out.append(attempt(lambda: store.delete_gateway_endpoint("e-missing")))
    store.delete_gateway_endpoint(e2.endpoint_id)
    store.delete_gateway_endpoint(e1.endpoint_id)
    out.append(endpoints(store))
    # with both endpoints gone, the definitions can go (their attachments went with them)
    store.delete_gateway_model_definition(d3.model_definition_id)
    store.delete_gateway_model_definition(d1.model_definition_id)
    out.append(store.list_gateway_model_definitions())
    # the names are free again
    out.append(store.create_gateway_endpoint("chat-2", [primary(d2.model_definition_id)]).name)
    out.append(store.get_experiment_by_name("gateway/chat").tags)
    return _norm(out)


@scenario(messages=False)
def duplicate_endpoint_name(store):
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e = store.create_gateway_endpoint(
        "chat", [primary(d.model_definition_id)], usage_tracking=False
    )
    store.create_gateway_endpoint("other", [primary(d.model_definition_id)], usage_tracking=False)
    return _norm(
        [
            attempt(lambda: store.update_gateway_endpoint(e.endpoint_id, name="other")),
            attempt(
                lambda: store.create_gateway_endpoint(
                    "chat", [primary(d.model_definition_id)], usage_tracking=False
                )
            ),
            attempt(
                lambda: store.create_gateway_endpoint(
                    "twice",
                    [primary(d.model_definition_id), primary(d.model_definition_id)],
                    usage_tracking=False,
                )
            ),
            [e.name for e in endpoints(store)],
        ]
    )


@scenario(workspaces=True)
def isolated_by_workspace(store):
    from tests.differential.scenarios.scorers import _workspace

    _workspace(store, "team-a")
    with WorkspaceContext("team-a"):
        s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"}, provider="openai")
        d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
        e = store.create_gateway_endpoint("chat", [primary(d.model_definition_id)])
        inside = [store.list_secret_infos(), endpoints(store)]
    with WorkspaceContext("default"):
        outside = [
            store.list_secret_infos(),
            store.list_gateway_model_definitions(),
            endpoints(store),
            attempt(lambda: store.get_secret_info(secret_id=s.secret_id)),
            attempt(lambda: store.get_gateway_model_definition(name="m")),
            attempt(lambda: store.get_gateway_endpoint(endpoint_id=e.endpoint_id)),
            attempt(lambda: store.delete_gateway_secret(s.secret_id)),
            attempt(lambda: store.update_gateway_endpoint(e.endpoint_id, name="x")),
            attempt(
                lambda: store.set_gateway_endpoint_tag(e.endpoint_id, GatewayEndpointTag("a", "b"))
            ),
            attempt(
                lambda: store.create_gateway_model_definition("m2", s.secret_id, "openai", "x")
            ),
            # names are unique per workspace: the same names are free here
            store.create_gateway_secret("k", {"api_key": "sk-2222222222"}),
        ]
    with WorkspaceContext("team-a"):
        still = store.get_gateway_endpoint(endpoint_id=e.endpoint_id)
    return _norm({"inside": inside, "outside": outside, "still": still})


@scenario(deviations={"INTERNAL_ERROR": "INVALID_PARAMETER_VALUE"}, messages=False)
def endpoint_bindings(store):
    out = []
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e1 = store.create_gateway_endpoint("one", [primary(d.model_definition_id)])
    e2 = store.create_gateway_endpoint("two", [primary(d.model_definition_id)])
    out.append(store.create_endpoint_binding(e1.endpoint_id, "scorer", "sc-1", created_by="ann"))
    out.append(store.create_endpoint_binding(e1.endpoint_id, "scorer", UNICODE))
    out.append(store.create_endpoint_binding(e2.endpoint_id, "scorer", "sc-1"))
    out.append(attempt(lambda: store.create_endpoint_binding("e-missing", "scorer", "x")))
    out.append(attempt(lambda: store.create_endpoint_binding(e1.endpoint_id, "nope", "x")))
    out.append(bindings_of(store))
    out.append(bindings_of(store, endpoint_id=e1.endpoint_id))
    out.append(bindings_of(store, resource_type="scorer", resource_id="sc-1"))
    out.append(bindings_of(store, endpoint_id="e-missing"))
    store.delete_endpoint_binding(e1.endpoint_id, "scorer", UNICODE)
    out.append(attempt(lambda: store.delete_endpoint_binding(e1.endpoint_id, "scorer", UNICODE)))
    # deleting an endpoint deletes its bindings
    store.delete_gateway_endpoint(e1.endpoint_id)
    out.append(bindings_of(store))
    return _norm(out)


@scenario(messages=False)
def duplicate_binding(store):
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e = store.create_gateway_endpoint("one", [primary(d.model_definition_id)])
    store.create_endpoint_binding(e.endpoint_id, "scorer", "sc-1")
    return _norm(
        [
            attempt(lambda: store.create_endpoint_binding(e.endpoint_id, "scorer", "sc-1")),
            bindings_of(store),
        ]
    )


@scenario()
def scorers_on_endpoints(store):
    """A judge on ``gateway:/<endpoint>``: stored with the endpoint id and bound to the
    endpoint; reads give the current name back, or no model once the endpoint is gone."""
    from tests.differential.scenarios.scorers import judge

    out = []
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e = store.create_gateway_endpoint("judge-ep", [primary(d.model_definition_id)])
    other = store.create_gateway_endpoint("other-ep", [primary(d.model_definition_id)])
    eid = store.create_experiment("scored")
    v1 = store.register_scorer(eid, "polite", judge(model="gateway:/judge-ep"))
    out.append(v1)
    out.append(bindings_of(store))
    out.append(store.get_scorer(eid, "polite"))
    # re-registering on another endpoint moves the binding
    out.append(store.register_scorer(eid, "polite", judge(model="gateway:/other-ep")))
    out.append(bindings_of(store))
    out.append(store.upsert_online_scoring_config(eid, "polite", 0.5))
    out.append(store.get_active_online_scorers())
    store.update_gateway_endpoint(other.endpoint_id, name="renamed-ep")
    out.append(store.list_scorers(eid))
    out.append(store.list_scorer_versions(eid, "polite"))
    out.append(store.get_scorer(eid, "polite", 1))
    out.append(store.resolve_endpoint_in_scorer(v1))
    out.append(attempt(lambda: store.register_scorer(eid, "x", judge(model="gateway:/nope"))))
    # the endpoint deleted: reads show no model; its binding went with it
    store.delete_gateway_endpoint(other.endpoint_id)
    out.append(bindings_of(store))
    out.append(store.get_scorer(eid, "polite"))
    out.append(store.list_scorers(eid))
    store.register_scorer(eid, "polite", judge(model="gateway:/judge-ep"))
    out.append(bindings_of(store))
    store.delete_scorer(eid, "polite")
    out.append(bindings_of(store))
    del e
    return _norm(out)


@scenario(
    reference_since=("3.17", "before it SqlAlchemyStore let a custom @scorer guard an endpoint")
)
def guardrail_on_a_custom_scorer_is_refused(store):
    """A custom @scorer would run its code in the server: refused (MLflow 3.17's rule, kept
    on every release)."""
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    from tests.differential.scenarios.scorers import custom_scorer

    custom = store.register_scorer(store.create_experiment("guarded"), "mine", custom_scorer())
    return attempt(
        lambda: store.create_gateway_guardrail(
            "c", custom.scorer_id, 1, GuardrailStage.BEFORE, GuardrailAction.VALIDATION
        )
    )


@scenario()
def guardrails(store):
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    from tests.differential.scenarios.scorers import judge

    out = []
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e = store.create_gateway_endpoint("chat", [primary(d.model_definition_id)])
    fixer = store.create_gateway_endpoint("fixer", [primary(d.model_definition_id)])
    eid = store.create_experiment("guarded")
    polite = store.register_scorer(eid, "polite", judge())
    g1 = store.create_gateway_guardrail(
        "no-rude",
        polite.scorer_id,
        1,
        GuardrailStage.BEFORE,
        GuardrailAction.VALIDATION,
        None,
        "ann",
    )
    out.append(g1)
    g2 = store.create_gateway_guardrail(
        UNICODE,
        polite.scorer_id,
        1,
        GuardrailStage.AFTER,
        GuardrailAction.SANITIZATION,
        fixer.endpoint_id,
    )
    out.append(g2)
    out.append(
        attempt(
            lambda: store.create_gateway_guardrail(
                "x", polite.scorer_id, 7, GuardrailStage.BEFORE, GuardrailAction.VALIDATION
            )
        )
    )
    out.append(store.get_gateway_guardrail(g2.guardrail_id))
    out.append(attempt(lambda: store.get_gateway_guardrail("gr-missing")))
    listed = store.list_gateway_guardrails()
    out.append(sorted(g.name for g in listed))
    page = store.list_gateway_guardrails(max_results=1)
    out.append((len(page), page.token is not None))
    out.append(len(store.list_gateway_guardrails(max_results=1, page_token=page.token)))
    out.append(attempt(lambda: store.list_gateway_guardrails(max_results=0)))
    # configs
    out.append(store.add_guardrail_to_endpoint(e.endpoint_id, g1.guardrail_id, 2, "ann"))
    out.append(store.add_guardrail_to_endpoint(e.endpoint_id, g2.guardrail_id))
    out.append(attempt(lambda: store.add_guardrail_to_endpoint(e.endpoint_id, g1.guardrail_id)))
    out.append(attempt(lambda: store.add_guardrail_to_endpoint("e-x", g1.guardrail_id)))
    out.append(attempt(lambda: store.add_guardrail_to_endpoint(e.endpoint_id, "gr-x")))
    out.append(store.list_endpoint_guardrail_configs(e.endpoint_id))
    out.append(store.update_endpoint_guardrail_config(e.endpoint_id, g2.guardrail_id, 1))
    out.append(store.list_endpoint_guardrail_configs(e.endpoint_id))
    out.append(store.update_endpoint_guardrail_config(e.endpoint_id, g1.guardrail_id, None))
    out.append(attempt(lambda: store.update_endpoint_guardrail_config(e.endpoint_id, "gr-x", 1)))
    out.append(attempt(lambda: store.list_endpoint_guardrail_configs("e-x")))
    store.remove_guardrail_from_endpoint(e.endpoint_id, g2.guardrail_id)
    out.append(
        attempt(lambda: store.remove_guardrail_from_endpoint(e.endpoint_id, g2.guardrail_id))
    )
    out.append(store.list_endpoint_guardrail_configs(e.endpoint_id))
    # the action endpoint deleted: the guardrail names none (SET NULL)
    store.delete_gateway_endpoint(fixer.endpoint_id)
    out.append(store.get_gateway_guardrail(g2.guardrail_id).action_endpoint_name)
    # a guardrail deleted: its configs go (CASCADE)
    store.add_guardrail_to_endpoint(e.endpoint_id, g2.guardrail_id, 5)
    store.delete_gateway_guardrail(g1.guardrail_id)
    out.append(attempt(lambda: store.delete_gateway_guardrail(g1.guardrail_id)))
    out.append(store.list_endpoint_guardrail_configs(e.endpoint_id))
    # an endpoint deleted: its configs go; the guardrail stays
    store.delete_gateway_endpoint(e.endpoint_id)
    out.append(sorted(g.name for g in store.list_gateway_guardrails()))
    return _norm(out)


@scenario()
def budget_policies(store):
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )

    out = []
    s = store.create_gateway_secret("k", {"api_key": "sk-1111111111"})
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    e = store.create_gateway_endpoint("chat", [primary(d.model_definition_id)])
    day = BudgetDuration(unit=BudgetDurationUnit.DAYS, value=1)
    p1 = store.create_budget_policy(
        BudgetUnit.USD, 100.5, day, BudgetTargetScope.GLOBAL, BudgetAction.ALERT, "ann"
    )
    out.append(p1)
    p2 = store.create_budget_policy(
        BudgetUnit.USD,
        10,
        BudgetDuration(unit=BudgetDurationUnit.HOURS, value=6),
        BudgetTargetScope.ENDPOINT,
        BudgetAction.REJECT,
        target_value=e.endpoint_id,
    )
    out.append(p2)
    out.append(
        store.create_budget_policy(
            BudgetUnit.USD,
            1,
            day,
            BudgetTargetScope.WORKSPACE,
            BudgetAction.ALERT,
            target_value="dropped",
        )
    )
    out.append(
        attempt(
            lambda: store.create_budget_policy(
                BudgetUnit.USD, 1, day, BudgetTargetScope.USER, BudgetAction.ALERT
            )
        )
    )
    out.append(
        attempt(
            lambda: store.create_budget_policy(
                BudgetUnit.USD,
                1,
                day,
                BudgetTargetScope.ENDPOINT,
                BudgetAction.ALERT,
                target_value="e-missing",
            )
        )
    )
    out.append(store.get_budget_policy(p2.budget_policy_id))
    out.append(attempt(lambda: store.get_budget_policy("bp-missing")))
    out.append(sorted(p.budget_amount for p in store.list_budget_policies()))
    page = store.list_budget_policies(max_results=2)
    out.append((len(page), page.token is not None))
    out.append(len(store.list_budget_policies(max_results=2, page_token=page.token)))
    out.append(
        store.update_budget_policy(
            p1.budget_policy_id,
            budget_amount=250.0,
            duration=BudgetDuration(unit=BudgetDurationUnit.WEEKS, value=2),
            budget_action=BudgetAction.REJECT,
            updated_by="bob",
        )
    )
    out.append(
        store.update_budget_policy(
            p1.budget_policy_id, target_scope=BudgetTargetScope.USER, target_value="carol"
        )
    )
    # a scope switch drops the old target; a targeted scope then needs a new one
    out.append(
        attempt(
            lambda: store.update_budget_policy(
                p2.budget_policy_id, target_scope=BudgetTargetScope.USER
            )
        )
    )
    out.append(attempt(lambda: store.update_budget_policy(p2.budget_policy_id, target_value="e-x")))
    out.append(store.update_budget_policy(p2.budget_policy_id, target_scope="GLOBAL"))
    out.append(attempt(lambda: store.update_budget_policy("bp-missing", budget_amount=1.0)))
    store.delete_budget_policy(p1.budget_policy_id)
    out.append(attempt(lambda: store.delete_budget_policy(p1.budget_policy_id)))
    out.append(len(store.list_budget_policies()))
    return _norm(out)
