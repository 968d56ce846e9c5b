"""Run tag and param values in the trigram index (``run_tag_value``, ``run_param_value``)
against the SQL store: search_runs with ``tags.<k>`` / ``params.<k>`` LIKE / ILIKE / =
over generated values (mixed case, accents, CJK, emoji, ``%``, ``_``, quotes), every
wildcard placement, paging, values past the trigram cap and spilled out of META, and tag
overwrites and deletes between searches. Both stores must give the same pages."""

from __future__ import annotations

import pytest
from mlflow.entities import Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.fts.field_postings import VALUE_FIELDS
from mlflow_dynamodbstore.fts.lookup import READINESS
from tests.fts.names import generated_names, patterns

# Past the 200-trigram cap (overflow list) and long enough to spill out of META.
LONG_PREFIX = "".join(chr(0x4E00 + i) for i in range(300))
SPILLED = "Z" * 6000 + "-needle-TAIL"


@pytest.fixture
def value_fields_on(monkeypatch):
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, ",".join(VALUE_FIELDS))


def _ready(dynamo_store) -> None:
    """A new table: the backfill finds no runs and marks the value fields ready."""
    gateway = dynamo_store.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)  # switched on by the env just now
    assert all(READINESS.is_ready(gateway, f) for f in VALUE_FIELDS)


def _pages(store, exp_ids, flt, max_results, order_by=None) -> list:
    pages, token = [], None
    try:
        while True:
            result = store.search_runs(
                exp_ids, flt, ViewType.ALL, max_results=max_results, order_by=order_by,
                page_token=token,
            )  # fmt: skip
            pages.append([r.info.run_name for r in result])
            token = result.token
            if not token or len(pages) > 60:
                return pages
    except MlflowException as exc:
        return [exc.error_code]


def _searches(store, exp_ids, pats) -> list:
    out = []
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            for key in ("tags.note", "params.path"):
                flt = f"{key} {comparator} '{pattern}'"
                size = 3 if i % 3 == 0 else 1000
                order = ["attributes.run_name DESC"] if i % 4 == 1 else None
                out.append(_pages(store, exp_ids, flt, size, order))
    extra = [
        "tags.note LIKE '%needle%'",
        "tags.note ILIKE '%NEEDLE-tail'",
        f"tags.note LIKE '{LONG_PREFIX[250:260]}%'",
        f"tags.note LIKE '%{LONG_PREFIX[280:290]}%'",
        "tags.note = 'ab'",
        "tags.note LIKE '%ode%' AND params.path ILIKE '%BERT%'",
        "tags.other LIKE '%ode%'",
        "tags.`mlflow.runName` LIKE '%un1%'",  # served by the run_name postings
        "tags.`mlflow.runName` ILIKE 'RUN2_'",
    ]
    out += [_pages(store, exp_ids, flt, 2) for flt in extra]
    return out


def test_search_runs_by_tag_and_param_values(value_fields_on, sql_store, dynamo_store):
    _ready(dynamo_store)
    values = generated_names(36, seed=41)
    pats = patterns(values, 24, seed=43)

    def scenario(store):
        exp_a, exp_b = store.create_experiment("a"), store.create_experiment("b")
        runs = []
        for i, value in enumerate(values):
            exp = exp_a if i % 3 else exp_b
            tags = [RunTag("note", value)] if i % 2 else []
            run = store.create_run(exp, "u", 1000 + i, tags, f"run{i:02d}")
            if not i % 2:
                store.set_tag(run.info.run_id, RunTag("note", value))
            store.log_batch(run.info.run_id, [], [Param("path", values[-1 - i])], [])
            runs.append(run.info.run_id)
        store.set_tag(runs[1], RunTag("note", LONG_PREFIX + "-end"))
        store.set_tag(runs[2], RunTag("note", SPILLED))
        log = _searches(store, [exp_a, exp_b], pats)
        # overwrites (longer, shorter, spilled to inline), deletes, a deleted run
        for run_id in runs[3:9]:
            store.set_tag(run_id, RunTag("note", "overwritten-" + run_id[:0] + "Naïve数据"))
        store.set_tag(runs[2], RunTag("note", "short"))
        store.set_tag(runs[1], RunTag("note", "model"))
        for run_id in runs[9:13]:
            store.delete_tag(run_id, "note")
        store.delete_run(runs[13])
        log += _searches(store, [exp_a], [*pats[:10], "%written%", "%naïve数%", "%NAÏVE%"])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)
