"""Registered model tag values in the trigram index (``model_tag_value``) against the SQL
store: search_registered_models with ``tags.<k>`` LIKE / ILIKE / = over generated values
(mixed case, accents, CJK, emoji, ``%``, ``_``, quotes, backslashes), every wildcard
placement, paging in name and last-update order, values past the trigram cap, and tag
overwrites, deletes and a deleted model between searches."""

from __future__ import annotations

from mlflow.entities.model_registry import RegisteredModelTag

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.fts.field_postings import MODEL_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import READINESS
from tests.fts.names import generated_names, patterns

LONG_PREFIX = "".join(chr(0x4E00 + i) for i in range(300))  # past the 200-trigram cap


def _all_pages(search, **kwargs) -> None:
    token = None
    for _ in range(40):
        result = search(page_token=token, **kwargs)
        token = result.token if result is not None else None
        if not token:
            return


def _searches(s, pats: list[str]) -> None:
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"tags.note {comparator} '{pattern}'"
            if i % 3 == 0:
                _all_pages(s.search_registered_models, filter_string=flt, max_results=3)
            elif i % 3 == 1:
                _all_pages(
                    s.search_registered_models,
                    filter_string=flt,
                    max_results=2,
                    order_by=["last_updated_timestamp DESC"],
                )
            else:
                s.search_registered_models(filter_string=flt, max_results=1000)
    for flt in (
        "tags.note LIKE '%needle%'",
        "tags.note ILIKE '%NEEDLE-tail'",
        f"tags.note LIKE '%{LONG_PREFIX[280:290]}%'",
        "tags.note = 'ab'",
        "tags.note LIKE '%a\\_b%'",
        "tags.note LIKE '%ode%' AND name LIKE 'm1%'",
        "tags.note LIKE '%ode%' AND tags.other ILIKE '%BERT%'",
        "tags.missing LIKE '%ode%'",
    ):
        _all_pages(s.search_registered_models, filter_string=flt, max_results=2)


def test_search_registered_models_by_tag_values(compare, store_uri, monkeypatch):
    from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_TAG_VALUE)
    gateway = DynamoDBRegistryStore(store_uri).gateway.unscoped  # the shared connection
    backfill_fts(gateway, settle_seconds=0)  # a new table: nothing to build
    assert READINESS.is_ready(gateway, MODEL_TAG_VALUE)
    values = [*generated_names(30, seed=61), "a\\_b c"]
    pats = patterns(values, 22, seed=67)

    def scenario(s):
        for i, value in enumerate(values):
            tags = [RegisteredModelTag("note", value)] if i % 2 else []
            s.create_registered_model(f"m{i:02d}", tags=tags)
            if not i % 2:
                s.set_registered_model_tag(f"m{i:02d}", RegisteredModelTag("note", value))
            s.set_registered_model_tag(f"m{i:02d}", RegisteredModelTag("other", values[-1 - i]))
        s.set_registered_model_tag("m01", RegisteredModelTag("note", LONG_PREFIX + "-needle-TAIL"))
        _searches(s, pats)
        for i in range(3, 9):
            s.set_registered_model_tag(f"m{i:02d}", RegisteredModelTag("note", "overwritten-Naïve"))
        s.set_registered_model_tag("m01", RegisteredModelTag("note", "model"))
        for i in range(9, 13):
            s.delete_registered_model_tag(f"m{i:02d}", "note")
        s.delete_registered_model_tag("m13", "never-set")
        s.delete_registered_model("m14")
        _searches(s, [*pats[:8], "%written%", "%naïve%", "%NAÏVE%"])

    compare(scenario)
