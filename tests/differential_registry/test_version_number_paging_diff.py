"""Differential scenarios: search_model_versions ordered by ``version_number`` first, paged
with small pages (keyset tokens through the version-number order here, offsets in SQL).

The models have very different version counts, so a page ends inside a number shared by
many models (version 1 of every model), inside a run of numbers only one model has, and
at the boundary of both; names mix cases and characters that sort around the key
separator (``#``, ``$``, ``!``) and names that are prefixes of others. Deleted versions,
a renamed model (its versions re-keyed under the new name), prompts, and filters on tags,
names, numbers and runs are in every scenario.
"""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag

from tests.differential_registry.test_paging_diff import page_through

VT = ModelVersionTag
PROMPT = "mlflow.prompt.is_prompt"

NUMBER_ORDERS = [
    ["version_number ASC"],
    ["version_number DESC"],
    ["version_number ASC", "name DESC"],
    ["version_number DESC", "name ASC"],
    ["version_number DESC", "name DESC"],
    ["version_number ASC", "name ASC", "creation_timestamp DESC"],
    ["version_number DESC", "last_updated_timestamp ASC"],
    ["version_number ASC", "creation_timestamp DESC", "name DESC"],
]
FILTERS = [
    None,
    "tags.kind = 'even'",
    "name LIKE 'a%'",
    "version_number >= 3",
    "version_number < 3 AND tags.kind != 'even'",
    "run_id = 'r1'",
    "name IN ('a', 'a#b', 'Zed')",
    f"tags.`{PROMPT}` = 'true'",
]
# name: number of versions
MODELS = {
    "a": 1,
    "a#b": 3,
    "a$": 2,
    "a!": 7,
    "Zed": 12,
    "b-long": 25,
    "c": 2,
    "ab": 4,
    "é-model": 3,
    "x": 1,
    "prompt-ish": 2,
}


def populate(s):
    for name, count in MODELS.items():
        s.create_registered_model(name)
        for v in range(1, count + 1):
            tags = [VT("kind", "even" if v % 2 == 0 else "odd")]
            if name == "prompt-ish":
                tags.append(VT(PROMPT, "true"))
            s.create_model_version(name, f"s3://b/{name}/{v}", run_id=f"r{v % 3}", tags=tags)
    s.delete_model_version("b-long", 2)
    s.delete_model_version("Zed", 12)  # the highest number of its model
    s.delete_model_version("a", 1)  # a model left with no live version
    s.transition_model_version_stage("a!", 3, "Production", False)
    s.rename_registered_model("c", "a#c")  # re-keyed under the new name
    s.update_model_version("ab", 2, "described")


def _scenario(filter_string):
    def run(s):
        populate(s)
        for order in NUMBER_ORDERS:
            for size in (1, 4):
                page_through(
                    s.search_model_versions, size, filter_string=filter_string, order_by=order
                )

    return run


SCENARIOS = {f"number_paged_{i}": _scenario(f) for i, f in enumerate(FILTERS)}


def more_after_first_page(s):
    """Versions created after the first page with numbers past the cursor (a new number
    of the biggest model) are on the later pages, as in SQL."""
    populate(s)
    first = s.search_model_versions(max_results=5, order_by=["version_number ASC"])
    assert first is not None
    s.create_model_version("b-long", "s3://late")  # version 26, after the cursor
    s.search_model_versions(
        max_results=100, order_by=["version_number ASC"], page_token=first.token
    )


SCENARIOS["more_after_first_page"] = more_after_first_page


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_version_number_paging(compare, name):
    compare(SCENARIOS[name])
