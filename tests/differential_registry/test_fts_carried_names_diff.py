"""Registered model name postings that carry the name (fts/postings.py CARRYING_FIELDS)
against the SQL store, for search_registered_models and search_model_versions (a version's
name is its model's): postings of a table from before (no name: the first models' postings
rewritten bare, as a backfill writes them), names too long to carry, renames between
carried, bare and too-long names, and deletes, with LIKE / ILIKE and small pages."""

from __future__ import annotations

from mlflow_dynamodbstore.repositories.registry.registered_models import name_document
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.differential_registry.test_fts_search_diff import _searches
from tests.fts.names import generated_names, patterns

LONG = "speech_ocr_t5_" + "résumé_数据_" * 12  # about 230 bytes: carried by no posting


def test_search_models_with_carried_and_bare_name_postings(compare):
    names = [
        *generated_names(22, seed=41),
        "speech_ocr_t5_v1",
        "speech_ocr_bert_v1",
        "Speech_OCR_T5_v2",
        LONG,
    ]
    pats = [*patterns(names, 18, seed=43), "%speech_ocr_t5%", "%ocr_t5%", "%数据_r%"]

    def scenario(s):
        for n in names[:12]:
            s.create_registered_model(n)
        store = s._store
        if isinstance(store, DynamoDBRegistryStore):  # a table from before: bare postings
            for n in names[:12]:
                model = store.models.find("default", n)
                store.gateway.unscoped.batch_write(
                    puts=name_document("default", model["model_id"]).keys(n)
                )
        for n in names[12:]:
            s.create_registered_model(n)
        for n in [*names[::5], "speech_ocr_t5_v1", LONG]:
            s.create_model_version(n, "s3://b/x", run_id="r1")
        _searches(s, pats)
        s.rename_registered_model(names[3], names[3] + "-renamed")
        s.rename_registered_model(names[14], names[14] + "-renamed")
        s.rename_registered_model("speech_ocr_t5_v1", LONG + "_b")
        s.rename_registered_model(LONG, "speech_ocr_t5_short")
        s.rename_registered_model("speech_ocr_bert_v1", "speech_ocr_t5_v3")
        s.delete_registered_model(names[16])
        _searches(s, [*pats[:8], "%renamed%", "%speech_ocr_t5%", "%_short", "%t5_v_"])

    compare(scenario)
