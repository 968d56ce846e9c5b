"""`mlflow-dynamodbstore tags ...` on DynamoDB Local: list/add/remove, backfill (dry run,
JSON, interrupted then rerun: the index ends complete and exact)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mlflow.entities import ExperimentTag, RunTag, ViewType

from mlflow_dynamodbstore.backfills import tag_index as backfill_module
from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState
from mlflow_dynamodbstore.schema import tag_index_keys


class _Out:
    def __init__(self, result):
        self.output = result.stdout  # the progress bar goes to stderr


def _invoke(*args):
    return _Out(CliRunner().invoke(cli, ["tags", *args], catch_exceptions=False))


def _forget_index(store, run_ids, exp_ids):
    """A table from before the index: no entries, nothing complete."""
    gw = store._conn.gateway
    for rid in run_ids:
        for key in ("mlflow.user", "mlflow.runName", "team.name"):
            gw.delete_item(tag_index_keys.run_entry_key(rid, key))
    for eid in exp_ids:
        gw.delete_item(tag_index_keys.experiment_entry_key(eid, "mlflow.user"))
    TagIndexState(gw).unmark(TABLE_SCOPE, ["mlflow.*"])


def _populate(store, n=250):
    e1 = store.create_experiment("a", tags=[ExperimentTag("mlflow.user", "alice")])
    e2 = store.create_experiment("b", tags=[ExperimentTag("mlflow.user", "bob")])
    run_ids = []
    for i in range(n):
        exp = e1 if i % 2 else e2
        user = "alice" if i % 25 == 0 else "bob"
        tags = [RunTag("mlflow.user", user), RunTag("team.name", f"t{i % 3}")]
        run_ids.append(store.create_run(exp, user, i, tags, f"r{i}").info.run_id)
    store.delete_run(run_ids[0])
    return [e1, e2], run_ids


def test_list_add_remove(store, store_uri):
    out = json.loads(_invoke("list", store_uri, "--json").output)
    assert out == [{"scope": "table", "glob": "mlflow.*", "complete": True}]
    out = json.loads(_invoke("add", store_uri, "team.*", "--json").output)
    assert {"scope": "table", "glob": "team.*", "complete": False} in out
    out = json.loads(_invoke("add", store_uri, "x.*", "--experiment-id", "7", "--json").output)
    assert {"scope": "experiment 7", "glob": "x.*", "complete": False} in out
    result = CliRunner().invoke(cli, ["tags", "remove", store_uri, "mlflow.*"])
    assert result.exit_code == 1 and "always indexed" in result.output
    result = CliRunner().invoke(cli, ["tags", "remove", store_uri, "nope.*"])
    assert result.exit_code == 1 and "not an indexed glob" in result.output
    out = json.loads(_invoke("remove", store_uri, "team.*", "--json").output)
    assert [r["glob"] for r in out if r["scope"] == "table"] == ["mlflow.*"]
    text = _invoke("list", store_uri).output
    assert "SCOPE" in text and "experiment 7" in text
    result = CliRunner().invoke(cli, ["tags", "--help"])
    for command in ("list", "add", "remove", "backfill"):
        assert command in result.output
    help_text = CliRunner().invoke(cli, ["tags", "backfill", "--help"]).output
    for option in ("--experiment-id", "--dry-run", "--rewrite", "--json"):
        assert option in help_text


def test_backfill_interrupted_then_rerun_ends_complete_and_exact(store, store_uri, monkeypatch):
    exps, run_ids = _populate(store)
    _forget_index(store, run_ids, exps)
    expected = [r.info.run_name for r in store.search_runs(exps, "tags.mlflow.user = 'alice'",
                                                           ViewType.ALL)]  # fmt: skip
    assert len(expected) == 10

    dry = json.loads(_invoke("backfill", store_uri, "--dry-run", "--json").output)
    assert dry["runs"] == 250 and dry["entries"] == 2 * 250 + 2 and dry["complete"] == {}
    assert TagIndexState(store._conn.gateway).load()[TABLE_SCOPE] == []

    # the job dies after 100 runs (a kill between two checkpoints)
    monkeypatch.setattr(backfill_module, "SAVE_EVERY", 50)
    calls = {"n": 0}
    real_put = backfill_module._Writer.put

    def dying_put(self, entry):
        calls["n"] += 1
        if calls["n"] == 230:
            raise KeyboardInterrupt
        real_put(self, entry)

    monkeypatch.setattr(backfill_module._Writer, "put", dying_put)
    killed = CliRunner().invoke(cli, ["tags", "backfill", store_uri])
    assert killed.exit_code == 1 and "Aborted" in killed.output  # click's answer to ^C
    record = store._conn.gateway.get_item(tag_index_keys.backfill_record_key())
    assert record is not None and not record.get("finished")
    assert TagIndexState(store._conn.gateway).load()[TABLE_SCOPE] == []  # not used yet

    monkeypatch.setattr(backfill_module._Writer, "put", real_put)
    out = json.loads(_invoke("backfill", store_uri, "--json").output)
    assert out["resumed"] and out["complete"] == {TABLE_SCOPE: ["mlflow.*"]}
    assert out["runs"] < 250  # it went on from the checkpoint
    assert store._conn.gateway.get_item(tag_index_keys.backfill_record_key()) is None

    # complete and exact: every run and experiment has its entries, the search uses them
    for rid in run_ids:
        assert store._conn.gateway.get_item(tag_index_keys.run_entry_key(rid, "mlflow.user"))
        assert store._conn.gateway.get_item(tag_index_keys.run_entry_key(rid, "team.name")) is None
    store.gateway.stats.reset()
    got = [r.info.run_name for r in store.search_runs(exps, "tags.mlflow.user = 'alice'",
                                                      ViewType.ALL)]  # fmt: skip
    assert got == expected
    assert store.gateway.stats.requests("Query") == 2  # one GSI2 Query per experiment
    assert [e.name for e in store.search_experiments(filter_string="tags.mlflow.user = 'bob'")] == [
        "b"
    ]

    # idempotent: a second run writes nothing new
    again = json.loads(_invoke("backfill", store_uri, "--json").output)
    assert again["entries"] == 0 and not again["resumed"]


def test_backfill_of_one_experiment_with_its_own_glob(store, store_uri):
    exps, run_ids = _populate(store, n=20)
    _invoke("add", store_uri, "team.*", "--experiment-id", exps[0])
    out = json.loads(_invoke("backfill", store_uri, "--experiment-id", exps[0], "--json").output)
    assert out["runs"] == 10 and out["complete"] == {exps[0]: ["mlflow.*", "team.*"]}
    rid = run_ids[1]  # in exps[0]
    assert store._conn.gateway.get_item(tag_index_keys.run_entry_key(rid, "team.name"))
    assert (
        store._conn.gateway.get_item(tag_index_keys.run_entry_key(run_ids[0], "team.name")) is None
    )
