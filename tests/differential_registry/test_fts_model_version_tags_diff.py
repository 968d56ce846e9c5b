"""Model version tag values in the trigram index (``model_version_tag_value``, on and
backfilled) against the SQL store: search_model_versions with ``tags.<k>`` LIKE / ILIKE /
= over generated values (mixed case, accents, CJK, emoji, ``%``, ``_``, quotes,
backslashes), every wildcard placement, paging with small pages in the default, name and
version-number orders, values past the trigram cap, a prompt version, and tag overwrites,
tag deletes, version deletes, a rename and a deleted model between searches."""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersionTag
from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.fts.field_postings import MODEL_VERSION_TAG_VALUE
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.search.registry import versions as version_search
from tests.fts.names import generated_names, patterns

LONG_PREFIX = "".join(chr(0x4E00 + i) for i in range(300))  # past the 200-trigram cap
_ORDERS = (None, ["name ASC"], ["version_number DESC"], ["creation_timestamp ASC"])


def _all_pages(search, **kwargs) -> None:
    token = None
    for _ in range(60):
        result = search(page_token=token, **kwargs)
        token = result.token if result is not None else None
        if not token:
            return


def _searches(s, pats: list[str]) -> None:
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"tags.note {comparator} '{pattern}'"
            if i % 3 == 2:
                s.search_model_versions(filter_string=flt, max_results=1000)
            else:
                _all_pages(
                    s.search_model_versions,
                    filter_string=flt,
                    max_results=2,
                    order_by=_ORDERS[i % len(_ORDERS)],
                )
    for flt in (
        "tags.note LIKE '%needle%'",
        "tags.note ILIKE '%NEEDLE-tail'",
        f"tags.note LIKE '%{LONG_PREFIX[280:290]}%'",
        "tags.note = 'ab'",
        "tags.note = 'overwritten-Naïve'",
        "tags.note LIKE '%a\\_b%'",
        "tags.note LIKE '%ode%' AND name LIKE 'm1%'",
        "tags.note LIKE '%ode%' AND tags.other ILIKE '%BERT%'",
        "tags.note LIKE '%ode%' AND version_number > 2",
        "tags.missing LIKE '%ode%'",
        f"tags.note LIKE '%prompt-zqx%' AND tags.`{IS_PROMPT_TAG_KEY}` = 'true'",
        "tags.note LIKE '%prompt-zqx%'",
    ):
        _all_pages(s.search_model_versions, filter_string=flt, max_results=2)


def test_search_model_versions_by_tag_values(compare, store_uri, monkeypatch):
    from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_VERSION_TAG_VALUE)
    gateway = DynamoDBRegistryStore(store_uri).gateway.unscoped  # the shared connection
    backfill_fts(gateway, settle_seconds=0)  # a new table: nothing to build
    assert READINESS.is_ready(gateway, MODEL_VERSION_TAG_VALUE)
    indexed = []  # searches that read the postings' candidates (DynamoDB side)
    load_candidates = version_search._load_candidates

    def counting(*args):
        indexed.append(1)
        return load_candidates(*args)

    monkeypatch.setattr(version_search, "_load_candidates", counting)
    values = [*generated_names(36, seed=71), "a\\_b c"]
    pats = patterns(values, 24, seed=73)

    def scenario(s):
        for m in range(4):
            s.create_registered_model(f"m{m}")
        for i, value in enumerate(values):
            model = f"m{i % 4}"
            tags = [ModelVersionTag("note", value)] if i % 2 else []
            mv = s.create_model_version(model, "s3://b/x", tags=tags)
            version = mv.version if mv is not None else str(i // 4 + 1)
            if not i % 2:
                s.set_model_version_tag(model, version, ModelVersionTag("note", value))
            s.set_model_version_tag(model, version, ModelVersionTag("other", values[-1 - i]))
        s.set_model_version_tag("m1", "1", ModelVersionTag("note", LONG_PREFIX + "-needle-TAIL"))
        s.create_registered_model("p")
        s.create_model_version("p", "s3://b/p", tags=[ModelVersionTag("note", "prompt-zqx")])
        s.set_model_version_tag("p", "1", ModelVersionTag(IS_PROMPT_TAG_KEY, "true"))
        _searches(s, pats)
        for version in ("2", "3", "4"):
            s.set_model_version_tag("m2", version, ModelVersionTag("note", "overwritten-Naïve"))
        s.set_model_version_tag("m1", "1", ModelVersionTag("note", "model"))
        for version in ("5", "6"):
            s.delete_model_version_tag("m3", version, "note")
        s.delete_model_version_tag("m3", "7", "never-set")
        s.delete_model_version("m0", "2")
        s.delete_model_version("m1", "3")
        s.rename_registered_model("m2", "m2-renamed")
        s.delete_registered_model("m3")
        _searches(s, [*pats[:10], "%written%", "%naïve%", "%NAÏVE%", "%ode%"])

    compare(scenario)
    assert len(indexed) > 50  # most searches went through the postings
