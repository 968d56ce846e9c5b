"""Scorer scenarios (MLflow 3 GenAI scorers and online scoring configs): register, versions,
get, list, delete, online configs, bad input; messages compared.

Scorer and config ids are uuids in both stores: each scenario maps them to ``<scorer0>``,
``<config0>``... in order of appearance (``_Plain``), so "the same scorer id after
re-registering" is compared too.
"""

from __future__ import annotations

import json
import re
from functools import partial

from mlflow.entities.scorer import ScorerVersion
from mlflow.entities.workspace import Workspace
from mlflow.genai.scorers.online.entities import OnlineScorer, OnlineScoringConfig
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential import harness
from tests.differential.harness import Failed, attempt

add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)

UNICODE_NAME = "ünïcødé ✓ 名前 🚀"
LONG_NAME = "s" * 300 + "é" * 200  # 700 UTF-8 bytes: beyond a plain key part


def custom_scorer(name: str = "my_len", body: str = "return len(str(outputs))") -> str:
    """What ``@scorer`` serializes to (``json.dumps(scorer.model_dump())``)."""
    return json.dumps(
        {
            "name": name,
            "aggregations": None,
            "description": None,
            "is_session_level_scorer": False,
            "timeout": None,
            "mlflow_version": "3.17.2",
            "serialization_version": 1,
            "builtin_scorer_class": None,
            "builtin_scorer_pydantic_data": None,
            "call_source": body,
            "call_signature": "(outputs) -> int",
            "original_func_name": name,
            "instructions_judge_pydantic_data": None,
            "memory_augmented_judge_data": None,
            "third_party_scorer_data": None,
            "ensemble_scorer_data": None,
        }
    )


def judge(name: str = "polite", model: str = "openai:/gpt-4o-mini") -> str:
    """What ``make_judge(...)`` serializes to; ``indent`` shows that list calls return the
    JSON re-serialized and get/register calls return it as given."""
    return json.dumps(
        {
            "name": name,
            "aggregations": ["mean"],
            "description": None,
            "is_session_level_scorer": False,
            "timeout": 0,
            "mlflow_version": "3.17.2",
            "serialization_version": 1,
            "instructions_judge_pydantic_data": {
                "instructions": "Is {{ outputs }} polite?",
                "model": model,
                "feedback_value_type": {"title": "Result", "type": "boolean"},
            },
        },
        indent=1,
    )


class _Plain:
    """Entities to dicts, with scorer and config ids replaced in order of appearance."""

    def __init__(self):
        self.ids: dict[str, str] = {}

    def _id(self, value, kind: str):
        if not isinstance(value, str):
            return value
        if value not in self.ids:
            self.ids[value] = f"<{kind}{sum(v.startswith(f'<{kind}') for v in self.ids.values())}>"
        return self.ids[value]

    def __call__(self, value):
        if isinstance(value, ScorerVersion):
            return {
                "experiment_id": value.experiment_id,
                "scorer_name": value.scorer_name,
                "scorer_version": value.scorer_version,
                "serialized_scorer": value._serialized_scorer,
                "creation_time": value.creation_time,
                "scorer_id": self._id(value.scorer_id, "scorer"),
            }
        if isinstance(value, OnlineScoringConfig):
            return {
                **value.to_dict(),
                "online_scoring_config_id": self._id(value.online_scoring_config_id, "config"),
                "scorer_id": self._id(value.scorer_id, "scorer"),
                "filter_string": value.filter_string,
            }
        if isinstance(value, OnlineScorer):
            return {
                "name": value.name,
                "serialized_scorer": value.serialized_scorer,
                "online_config": self(value.online_config),
                "scorer_version": value.scorer_version,
            }
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _try(plain: _Plain, fn):
    result = attempt(fn)
    if isinstance(result, Failed):
        # messages name scorers by id ("Scorer with ID '<uuid>' not found.")
        result.message = _UUID.sub(lambda m: plain._id(m.group(0), "scorer"), result.message)
        return result
    return plain(result)


@scenario()
def register_versions_and_read(store):
    p = _Plain()
    eid = store.create_experiment("scorers")
    out = {
        "register": [
            p(store.register_scorer(eid, "a", custom_scorer())),
            p(store.register_scorer(eid, "a", custom_scorer(body="return 2"))),
            p(store.register_scorer(eid, UNICODE_NAME, judge())),
            p(store.register_scorer(eid, LONG_NAME, custom_scorer(LONG_NAME))),
            p(store.register_scorer(eid, "B upper", judge("B"))),
        ]
    }
    out["get"] = [
        _try(p, lambda: store.get_scorer(eid, "a")),
        _try(p, lambda: store.get_scorer(eid, "a", 1)),
        _try(p, lambda: store.get_scorer(eid, "a", "2")),
        _try(p, lambda: store.get_scorer(eid, "a", 3)),
        _try(p, lambda: store.get_scorer(eid, "a", 0)),
        _try(p, lambda: store.get_scorer(eid, "a", -1)),
        _try(p, lambda: store.get_scorer(eid, "a", "x")),
        _try(p, lambda: store.get_scorer(eid, UNICODE_NAME)),
        _try(p, lambda: store.get_scorer(eid, LONG_NAME, 1)),
        _try(p, lambda: store.get_scorer(eid, "unknown")),
        _try(p, lambda: store.get_scorer(eid, "unknown", 1)),
        _try(p, lambda: store.get_scorer(eid, None)),
    ]
    out["list"] = _try(p, lambda: store.list_scorers(eid))
    out["versions"] = [
        _try(p, lambda: store.list_scorer_versions(eid, "a")),
        _try(p, lambda: store.list_scorer_versions(eid, UNICODE_NAME)),
        _try(p, lambda: store.list_scorer_versions(eid, "unknown")),
    ]
    return out


@scenario()
def missing_or_deleted_experiment(store):
    p = _Plain()
    out = []
    for eid in ("12345", "abc"):
        out.append(
            [
                _try(p, lambda eid=eid: store.register_scorer(eid, "a", custom_scorer())),
                _try(p, lambda eid=eid: store.list_scorers(eid)),
                _try(p, lambda eid=eid: store.get_scorer(eid, "a")),
                _try(p, lambda eid=eid: store.list_scorer_versions(eid, "a")),
                _try(p, lambda eid=eid: store.delete_scorer(eid, "a")),
                _try(p, lambda eid=eid: store.upsert_online_scoring_config(eid, "a", 0.0)),
            ]
        )
    eid = store.create_experiment("doomed")
    store.register_scorer(eid, "a", custom_scorer())
    store.delete_experiment(eid)
    out.append(
        [
            _try(p, lambda: store.register_scorer(eid, "a", custom_scorer())),
            _try(p, lambda: store.list_scorers(eid)),
            _try(p, lambda: store.get_scorer(eid, "a")),
            _try(p, lambda: store.list_scorer_versions(eid, "a")),
            _try(p, lambda: store.delete_scorer(eid, "a")),
            _try(p, lambda: store.upsert_online_scoring_config(eid, "a", 0.0)),
            # SQL does not check the experiments here (its callers filter them first)
            _try(p, lambda: store.list_scorers_across_experiments([eid])),
        ]
    )
    store.restore_experiment(eid)
    out.append(_try(p, lambda: store.list_scorers(eid)))
    return out


@scenario()
def bad_names_and_models(store):
    p = _Plain()
    eid = store.create_experiment("bad")
    return [
        _try(p, lambda: store.register_scorer(eid, None, custom_scorer())),
        _try(p, lambda: store.register_scorer(eid, 12, custom_scorer())),
        _try(p, lambda: store.register_scorer(eid, "", custom_scorer())),
        _try(p, lambda: store.register_scorer(eid, "   ", custom_scorer())),
        _try(p, lambda: store.register_scorer(eid, "m", judge(model="not-a-model-uri"))),
        _try(p, lambda: store.register_scorer(eid, "m", judge(model="openai:/"))),
        _try(p, lambda: store.list_scorers(eid)),
    ]


@scenario()
def delete_versions_and_scorers(store):
    p = _Plain()
    eid = store.create_experiment("deletes")
    for body in ("return 1", "return 2", "return 3"):
        p(store.register_scorer(eid, "s", custom_scorer(body=body)))
    p(store.register_scorer(eid, "other", custom_scorer("other")))
    out = [
        _try(p, lambda: store.delete_scorer(eid, "s", 3)),  # the latest
        _try(p, lambda: store.get_scorer(eid, "s")),
        _try(p, lambda: store.register_scorer(eid, "s", custom_scorer(body="again"))),
        _try(p, lambda: store.delete_scorer(eid, "s", 1)),  # not the latest
        _try(p, lambda: store.delete_scorer(eid, "s", 1)),  # twice
        _try(p, lambda: store.delete_scorer(eid, "s", 99)),
        _try(p, lambda: store.delete_scorer(eid, "s", "x")),
        _try(p, lambda: store.delete_scorer(eid, "unknown", 1)),
        _try(p, lambda: store.list_scorer_versions(eid, "s")),
        _try(p, lambda: store.delete_scorer(eid, "s")),  # every version
        _try(p, lambda: store.delete_scorer(eid, "s")),  # twice
        _try(p, lambda: store.get_scorer(eid, "s")),
        _try(p, lambda: store.list_scorers(eid)),
        _try(p, lambda: store.register_scorer(eid, "s", custom_scorer())),  # a new scorer id
    ]
    return out


@scenario()
def delete_every_version_one_by_one(store):
    p = _Plain()
    eid = store.create_experiment("one by one")
    first = p(store.register_scorer(eid, "s", custom_scorer()))
    p(store.register_scorer(eid, "s", custom_scorer(body="return 2")))
    out = [
        first,
        _try(p, lambda: store.delete_scorer(eid, "s", 1)),
        _try(p, lambda: store.delete_scorer(eid, "s", 2)),
        # the scorer row stays in SQL without versions: not found, yet not gone
        _try(p, lambda: store.get_scorer(eid, "s")),
        _try(p, lambda: store.get_scorer(eid, "s", 2)),
        _try(p, lambda: store.list_scorers(eid)),
        _try(p, lambda: store.list_scorer_versions(eid, "s")),
        _try(p, lambda: store.delete_scorer(eid, "s")),
        _try(p, lambda: store.delete_scorer(eid, "s", 1)),
        # ... so the next version is 1 again, under the same scorer id
        _try(p, lambda: store.register_scorer(eid, "s", custom_scorer(body="back"))),
        _try(p, lambda: store.list_scorer_versions(eid, "s")),
    ]
    return out


@scenario()
def online_scoring_configs(store):
    p = _Plain()
    eid = store.create_experiment("online")
    polite = p(store.register_scorer(eid, "polite", judge()))
    custom = p(store.register_scorer(eid, "custom", custom_scorer()))
    ids = {v: k for k, v in p.ids.items()}
    polite_id, custom_id = ids[polite["scorer_id"]], ids[custom["scorer_id"]]

    def upsert(name, rate, filter_string=None):
        return _try(p, lambda: store.upsert_online_scoring_config(eid, name, rate, filter_string))

    out = {
        "upserts": [
            upsert("polite", 0.0),
            upsert("polite", 0),
            upsert("polite", 0.0, "trace.status = 'OK'"),
            upsert("polite", 0.5),  # needs a gateway model
            upsert("custom", 1.0),
            upsert("polite", -0.1),
            upsert("polite", 1.5),
            upsert("polite", "0.5"),
            upsert("polite", None),
            upsert("polite", 0.0, "this is not a filter"),
            upsert("polite", 0.0, 12),
            upsert("unknown", 0.0),
            upsert("custom", 0.0, ""),
        ],
        "configs": _try(
            p, lambda: store.get_online_scoring_configs([polite_id, custom_id, "unknown"])
        ),
        "none": _try(p, lambda: store.get_online_scoring_configs([])),
        "active": _try(p, lambda: store.get_active_online_scorers()),
    }
    # Deleting a version keeps the config; deleting the scorer removes it.
    p(store.register_scorer(eid, "polite", judge(model="anthropic:/claude-3-5-sonnet")))
    out["after_version_delete"] = [
        _try(p, lambda: store.delete_scorer(eid, "polite", 1)),
        _try(p, lambda: store.get_online_scoring_configs([polite_id])),
    ]
    out["after_scorer_delete"] = [
        _try(p, lambda: store.delete_scorer(eid, "polite")),
        _try(p, lambda: store.get_online_scoring_configs([polite_id, custom_id])),
        upsert("polite", 0.0),
    ]
    return out


@scenario()
def online_config_of_a_scorer_without_versions(store):
    """With no version left there is nothing to validate: any rate is accepted, and the
    config counts as active only once a version exists (and uses a gateway model)."""
    p = _Plain()
    eid = store.create_experiment("empty")
    sid = store.register_scorer(eid, "s", custom_scorer()).scorer_id
    store.delete_scorer(eid, "s", 1)
    out = [
        _try(p, lambda: store.upsert_online_scoring_config(eid, "s", 0.7, "trace.status = 'OK'")),
        _try(p, lambda: store.get_active_online_scorers()),
        _try(p, lambda: store.register_scorer(eid, "s", judge())),
        _try(p, lambda: store.get_active_online_scorers()),
        _try(p, lambda: store.get_online_scoring_configs([sid])),
    ]
    return out


@scenario(reference_since=("3.17", "before it SqlAlchemyStore listed nothing for a non-integer id"))
def across_experiments_bad_id(store):
    return attempt(lambda: store.list_scorers_across_experiments(["abc"]))


@scenario()
def across_experiments(store):
    p = _Plain()
    e1 = store.create_experiment("one")
    e2 = store.create_experiment("two")
    e3 = store.create_experiment("three")
    for eid, names in ((e2, ["z", "a"]), (e1, ["m", UNICODE_NAME, "A"])):
        for name in names:
            store.register_scorer(eid, name, custom_scorer(name))
    store.register_scorer(e1, "m", custom_scorer("m", body="return 'v2'"))
    store.register_scorer(e3, "emptied", custom_scorer("emptied"))
    store.delete_scorer(e3, "emptied", 1)  # a scorer without versions is not listed
    store.register_scorer("0", "default's", custom_scorer())
    return [
        _try(p, lambda: store.list_scorers_across_experiments([e2, e1, e2])),
        # three ids and more: one workspace listing instead of a Query per experiment
        _try(p, lambda: store.list_scorers_across_experiments([e3, e2, e1, "0", "999"])),
        _try(p, lambda: store.list_scorers_across_experiments([e3, e2, "999"])),
        _try(p, lambda: store.list_scorers_across_experiments([e3, "424242"])),
        _try(p, lambda: store.list_scorers_across_experiments([])),
        _try(p, lambda: store.list_scorers(e1)),
    ]


def _scorer_version(store, scorer_id, version=None):
    if isinstance(store, SqlAlchemyStore):
        with store.ManagedSessionMaker() as session:
            return store._get_scorer_version(session, scorer_id, version).to_mlflow_entity()
    return store._get_scorer_version(scorer_id, version)


@scenario()
def scorer_version_by_id(store):
    p = _Plain()
    eid = store.create_experiment("by id")
    sid = store.register_scorer(eid, "s", custom_scorer()).scorer_id
    store.register_scorer(eid, "s", custom_scorer(body="return 2"))
    store.register_scorer(eid, "s", custom_scorer(body="return 3"))
    store.delete_scorer(eid, "s", 2)
    return [
        _try(p, lambda: _scorer_version(store, sid)),
        _try(p, lambda: _scorer_version(store, sid, 1)),
        _try(p, lambda: _scorer_version(store, sid, 2)),
        _try(p, lambda: _scorer_version(store, "unknown")),
        _try(p, lambda: _scorer_version(store, "unknown", 1)),
    ]


def _workspace(store, name: str) -> None:
    if isinstance(store, SqlAlchemyStore):
        provider = store._get_workspace_provider_instance()
    else:
        provider = DynamoDBWorkspaceProvider(store.store_uri)
    provider.create_workspace(Workspace(name=name))


@scenario(workspaces=True)
def scorers_in_their_workspace(store):
    p = _Plain()
    _workspace(store, "team-a")
    with WorkspaceContext("team-a"):
        eid = store.create_experiment("mine")
        sid = store.register_scorer(eid, "s", custom_scorer()).scorer_id
        store.upsert_online_scoring_config(eid, "s", 0.0)
        inside = [
            _try(p, lambda: store.list_scorers(eid)),
            _try(p, lambda: store.get_scorer(eid, "s")),
            _try(p, lambda: store.get_online_scoring_configs([sid])),
            _try(p, lambda: _scorer_version(store, sid)),
        ]
    with WorkspaceContext("default"):
        outside = [
            _try(p, lambda: store.register_scorer(eid, "s", custom_scorer())),
            _try(p, lambda: store.list_scorers(eid)),
            _try(p, lambda: store.get_scorer(eid, "s")),
            _try(p, lambda: store.delete_scorer(eid, "s")),
            _try(p, lambda: store.upsert_online_scoring_config(eid, "s", 0.0)),
            _try(p, lambda: store.get_online_scoring_configs([sid])),
            _try(p, lambda: _scorer_version(store, sid)),
            _try(p, lambda: store.get_active_online_scorers()),
        ]
    with WorkspaceContext("team-a"):
        still = _try(p, lambda: store.list_scorer_versions(eid, "s"))
    return {"inside": inside, "outside": outside, "still": still}


@scenario()
def gateway_endpoint_scorer(store):
    """A scorer on a gateway endpoint that does not exist: both stores look it up
    (RESOURCE_DOES_NOT_EXIST). Scorers on real endpoints: scenarios/ai_gateway.py."""
    eid = store.create_experiment("gateway")
    return [
        attempt(lambda: store.register_scorer(eid, "g", judge(model="gateway:/my-endpoint"))),
        attempt(lambda: store.list_scorers(eid)),
    ]


@scenario()
def endpoint_resolution_without_a_gateway_model(store):
    """No gateway endpoint referenced: the scorer comes back as is (resolve_endpoint_in_scorer)
    or re-serialized (_resolve_endpoint_in_serialized_scorer), as in the SQL store."""
    p = _Plain()
    eid = store.create_experiment("resolve")
    version = store.register_scorer(eid, "polite", judge())
    return [
        _try(p, lambda: store.resolve_endpoint_in_scorer(version)),
        _try(p, lambda: store._resolve_endpoint_in_serialized_scorer(judge())),
        _try(p, lambda: store._resolve_endpoint_in_serialized_scorer(custom_scorer())),
    ]
