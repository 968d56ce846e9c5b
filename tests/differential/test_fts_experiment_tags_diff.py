"""Experiment tag values in the trigram index (``experiment_tag_value``) against the SQL
store: search_experiments with ``tags.<k>`` LIKE / ILIKE / = over generated values (mixed
case, accents, CJK, emoji, ``%``, ``_``, quotes), backslash-escaped wildcards (SQLite has no
ESCAPE: the backslash is a character), every wildcard placement, paging, other orders, the
description tag, values past the trigram cap, and tag overwrites, deletes and a deleted
experiment between searches. Both stores must give the same pages."""

from __future__ import annotations

import pytest
from mlflow.entities import ExperimentTag, ViewType
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import READINESS
from tests.fts.names import generated_names, patterns

LONG_PREFIX = "".join(chr(0x4E00 + i) for i in range(300))  # past the 200-trigram cap
DESCRIPTION = "mlflow.note.content"


@pytest.fixture
def experiment_tags_on(monkeypatch):
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, EXPERIMENT_TAG_VALUE)


def _pages(store, flt: str, max_results: int, order_by=None, view=ViewType.ALL) -> list:
    pages, token = [], None
    try:
        while True:
            result = store.search_experiments(
                view, max_results, flt, order_by=order_by, page_token=token
            )
            pages.append([e.name for e in result])
            token = result.token
            if not token or len(pages) > 60:
                return pages
    except MlflowException as exc:
        return [exc.error_code]


def _searches(store, pats: list[str]) -> list:
    out = []
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            for key in ("tags.note", f"tags.`{DESCRIPTION}`"):
                flt = f"{key} {comparator} '{pattern}'"
                size = 3 if i % 3 == 0 else 1000
                order = ["name DESC"] if i % 4 == 1 else None
                view = ViewType.ACTIVE_ONLY if i % 5 == 2 else ViewType.ALL
                out.append(_pages(store, flt, size, order, view))
    extra = [
        "tags.note LIKE '%needle%'",
        "tags.note ILIKE '%NEEDLE-tail'",
        f"tags.note LIKE '{LONG_PREFIX[250:260]}%'",
        f"tags.note LIKE '%{LONG_PREFIX[280:290]}%'",
        "tags.note = 'ab'",
        "tags.note LIKE '%a\\_b%'",  # a backslash, then any one character
        "tags.note LIKE '%50\\%%'",
        "tags.note LIKE '%ode%' AND name LIKE 'exp1%'",
        f"tags.note LIKE '%ode%' AND tags.`{DESCRIPTION}` ILIKE '%BERT%'",
        "tags.other LIKE '%ode%'",
    ]
    out += [_pages(store, flt, 2) for flt in extra]
    return out


def test_search_experiments_by_tag_values(experiment_tags_on, sql_store, dynamo_store):
    gateway = dynamo_store.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)  # a new table: nothing to build
    assert READINESS.is_ready(gateway, EXPERIMENT_TAG_VALUE)
    values = [*generated_names(36, seed=51), "a\\_b c", "x 50\\% y"]
    pats = patterns(values, 24, seed=53)

    def scenario(store):
        ids = []
        for i, value in enumerate(values):
            tags = [ExperimentTag("note", value)] if i % 2 else []
            exp = store.create_experiment(f"exp{i:02d}", tags=tags)
            if not i % 2:
                store.set_experiment_tag(exp, ExperimentTag("note", value))
            store.set_experiment_tag(exp, ExperimentTag(DESCRIPTION, values[-1 - i]))
            ids.append(exp)
        store.set_experiment_tag(ids[1], ExperimentTag("note", LONG_PREFIX + "-needle-TAIL"))
        log = _searches(store, pats)
        # overwrites (longer, shorter, past the cap and back), deletes, a deleted experiment
        for exp in ids[3:9]:
            store.set_experiment_tag(exp, ExperimentTag("note", "overwritten-Naïve数据"))
        store.set_experiment_tag(ids[1], ExperimentTag("note", "model"))
        for exp in ids[9:13]:
            store.delete_experiment_tag(exp, "note")
        store.delete_experiment_tag(ids[14], DESCRIPTION)
        store.delete_experiment(ids[13])
        log += _searches(store, [*pats[:10], "%written%", "%naïve数%", "%NAÏVE%"])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)
