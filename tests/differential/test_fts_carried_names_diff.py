"""Experiment name postings that carry the name (fts/postings.py CARRYING_FIELDS) against
the SQL store: the lookup drops a candidate whose carried name does not match, so a stale
carried name would lose a match. Postings of a table from before (no name: simulated by
rewriting the first names' postings bare, as a backfill writes them), names too long to carry
(over 128 bytes), renames between carried, bare and too-long names, and deletes, searched
with LIKE / ILIKE and small pages: both stores must give the same pages."""

from __future__ import annotations

from mlflow.entities import ViewType

from mlflow_dynamodbstore.repositories.experiments import name_document
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential.test_fts_search_diff import _experiment_searches
from tests.fts.names import generated_names, patterns

LONG = "ocr-bert-2025-03-" + "résumé-数据-" * 12  # about 230 bytes: carried by no posting


def _names() -> list[str]:
    return [
        *generated_names(24, seed=31),
        "ocr-bert-2025-03-01",
        "ocr-bert-2025-04-03",
        "OCR-bert-2025-03-x",
        LONG,
        LONG + "-b",
    ]


def _strip_carried_names(store, ids: dict[str, str], names: list[str]) -> None:
    """A table written before names were carried: the same postings, keys only."""
    if isinstance(store, DynamoDBTrackingStore):
        gateway = store.gateway.unscoped
        for name in names:
            gateway.batch_write(puts=name_document("default", ids[name]).keys(name))


def test_search_experiments_with_carried_and_bare_name_postings(sql_store, dynamo_store):
    names = _names()
    pats = [*patterns(names, 20, seed=37), "%ocr-bert-2025-03%", "%bert_2025%", "%数据-ré%"]

    def scenario(store):
        ids = {n: store.create_experiment(n) for n in names[:14]}
        _strip_carried_names(store, ids, names[:14])
        ids |= {n: store.create_experiment(n) for n in names[14:]}
        log = _experiment_searches(store, pats)
        # renames: bare -> carried, carried -> carried (shared trigrams), carried -> too
        # long, too long -> carried, and back to a name a search matches
        store.rename_experiment(ids[names[2]], names[2] + "-renamed")
        store.rename_experiment(ids[names[16]], names[16] + "-renamed")
        store.rename_experiment(ids["ocr-bert-2025-03-01"], LONG + "-c")
        store.rename_experiment(ids[LONG], "ocr-bert-2025-03-short")
        store.rename_experiment(ids["ocr-bert-2025-04-03"], "ocr-bert-2025-03-04")
        store.delete_experiment(ids[names[17]])
        log += _experiment_searches(
            store, [*pats[:8], "%renamed%", "%ocr-bert-2025-03%", "%-short", "%-03-0_"]
        )
        log.append(
            [
                e.name
                for e in store.search_experiments(
                    filter_string="name LIKE '%bert-2025-03%' AND name != 'ocr-bert-2025-03-04'",
                    view_type=ViewType.ALL,
                )
            ]
        )
        return log

    assert scenario(dynamo_store) == scenario(sql_store)
