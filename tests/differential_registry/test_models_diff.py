"""Differential scenarios: registered models (create, get, update, rename, delete, tags)."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

T = RegisteredModelTag
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def create_and_get(s):
    s.create_registered_model("m", tags=[T("a", "1"), T("b", "2")], description="desc")
    s.get_registered_model("m")


@scenario
def create_duplicate(s):
    s.create_registered_model("m")
    s.create_registered_model("m")


@scenario
def create_duplicate_tags_last_wins(s):
    s.create_registered_model("m", tags=[T("a", "1"), T("a", "2")])
    s.get_registered_model("m")


@scenario
def create_bad_names(s):
    for name in ["", "  ", None, "a/b", "a:b", "../x", "x/.."]:
        s.create_registered_model(name)


@scenario
def create_bad_tags(s):
    s.create_registered_model("m", tags=[T("", "v")])
    s.create_registered_model("m", tags=[T("k" * 251, "v")])
    s.create_registered_model("m", tags=[T("k", "v" * 100_001)])
    s.create_registered_model("m", tags=[T("../k", "v")])
    s.get_registered_model("m")


@scenario
def create_prompt_then_model_same_name(s):
    s.create_registered_model("p", tags=[T("mlflow.prompt.is_prompt", "true")])
    s.create_registered_model("p")
    s.create_registered_model("p", tags=[T("mlflow.prompt.is_prompt", "true")])


@scenario
def create_model_then_prompt_same_name(s):
    s.create_registered_model("m")
    s.create_registered_model("m", tags=[T("mlflow.prompt.is_prompt", "true")])


@scenario
def get_missing(s):
    s.get_registered_model("nope")
    s.get_registered_model("")


@scenario
def names_are_case_sensitive(s):
    s.create_registered_model("Model")
    s.create_registered_model("model")
    s.get_registered_model("MODEL")
    s.get_registered_model("model")


@scenario
def unicode_names(s):
    s.create_registered_model("modèle ✓")
    s.create_registered_model("模型")
    s.get_registered_model("模型")
    s.search_registered_models()


@scenario
def update_description(s):
    s.create_registered_model("m", description="a")
    s.update_registered_model("m", "b")
    s.update_registered_model("m", None)
    s.get_registered_model("m")
    s.update_registered_model("missing", "x")


@scenario
def update_keeps_versions(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.update_registered_model("m", "new")


@scenario
def rename_simple(s):
    s.create_registered_model("m", tags=[T("k", "v")])
    s.rename_registered_model("m", "n")
    s.get_registered_model("m")
    s.get_registered_model("n")


@scenario
def rename_carries_versions_tags_aliases(s):
    s.create_registered_model("m", tags=[T("k", "v")])
    s.create_model_version("m", "s3://a", tags=[ModelVersionTag("vt", "1")])
    s.create_model_version("m", "s3://b")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.set_registered_model_alias("m", "champ", 2)
    s.rename_registered_model("m", "n")
    s.get_registered_model("n")
    s.get_model_version("n", 1)
    s.get_model_version("n", 2)
    s.get_model_version_by_alias("n", "champ")
    s.get_latest_versions("n")
    s.search_model_versions("name = 'n'")
    s.search_model_versions("name = 'm'")
    s.create_model_version("n", "s3://c")


@scenario
def rename_to_existing(s):
    s.create_registered_model("a")
    s.create_registered_model("b")
    s.rename_registered_model("a", "b")
    s.get_registered_model("a")


@scenario
def rename_to_same_name(s):
    s.create_registered_model("a")
    s.create_model_version("a", "s3://x")
    s.rename_registered_model("a", "a")
    s.get_model_version("a", 1)


@scenario
def rename_bad_input(s):
    s.create_registered_model("a")
    s.rename_registered_model("a", "")
    s.rename_registered_model("a", None)
    s.rename_registered_model("a", "x/y")
    s.rename_registered_model("missing", "z")
    s.rename_registered_model("", "z")


@scenario
def rename_back_and_forth(s):
    s.create_registered_model("a")
    s.create_model_version("a", "s3://x")
    s.rename_registered_model("a", "b")
    s.create_registered_model("a")
    s.rename_registered_model("b", "c")
    s.rename_registered_model("a", "b")
    s.search_registered_models()
    s.search_model_versions()


@scenario
def delete_model(s):
    s.create_registered_model("m", tags=[T("k", "v")])
    s.create_model_version("m", "s3://a")
    s.set_registered_model_alias("m", "x", 1)
    s.delete_registered_model("m")
    s.get_registered_model("m")
    s.get_model_version("m", 1)
    s.delete_registered_model("m")
    s.search_model_versions()


@scenario
def delete_then_recreate_restarts_versions(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.create_model_version("m", "s3://b")
    s.delete_registered_model("m")
    s.create_registered_model("m")
    s.create_model_version("m", "s3://c")
    s.get_registered_model("m")


@scenario
def model_tags(s):
    s.create_registered_model("m")
    s.set_registered_model_tag("m", T("a", "1"))
    s.set_registered_model_tag("m", T("a", "2"))
    s.set_registered_model_tag("m", T("b", ""))
    s.get_registered_model("m")
    s.delete_registered_model_tag("m", "a")
    s.delete_registered_model_tag("m", "never")
    s.get_registered_model("m")


@scenario
def model_tags_bad_input(s):
    s.create_registered_model("m")
    s.set_registered_model_tag("m", T("", "1"))
    s.set_registered_model_tag("m", T("k" * 300, "1"))
    s.set_registered_model_tag("missing", T("a", "1"))
    s.set_registered_model_tag("", T("a", "1"))
    s.delete_registered_model_tag("missing", "a")
    s.delete_registered_model_tag("m", None)
    s.delete_registered_model_tag("m", "")
    s.get_registered_model("m")


@scenario
def tags_do_not_touch_last_updated(s):
    s.create_registered_model("m")
    s.set_registered_model_tag("m", T("a", "1"))
    s.create_model_version("m", "s3://a")
    s.set_model_version_tag("m", 1, ModelVersionTag("x", "y"))
    s.get_registered_model("m")
    s.get_model_version("m", 1)


@scenario
def tag_keys_with_dots_and_spaces(s):
    s.create_registered_model("m", tags=[T("a.b.c", "1"), T("with space", "2")])
    s.set_registered_model_tag("m", T("x.y", "3"))
    s.delete_registered_model_tag("m", "a.b.c")
    s.get_registered_model("m")
    s.search_registered_models("tags.`x.y` = '3'")
    s.search_registered_models("tags.`with space` = '2'")


@scenario
def get_latest_versions_by_stage(s):
    s.create_registered_model("m")
    for i in range(6):
        s.create_model_version("m", f"s3://{i}")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.transition_model_version_stage("m", 2, "Staging", False)
    s.transition_model_version_stage("m", 3, "Production", False)
    s.transition_model_version_stage("m", 4, "Archived", False)
    s.get_latest_versions("m")
    s.get_latest_versions("m", ["Production"])
    s.get_latest_versions("m", ["staging", "NONE"])
    s.get_latest_versions("m", [])
    s.get_latest_versions("m", ["bogus"])
    s.get_latest_versions("missing")
    s.get_registered_model("m")


@scenario
def latest_versions_after_delete(s):
    s.create_registered_model("m")
    for i in range(3):
        s.create_model_version("m", f"s3://{i}")
    s.transition_model_version_stage("m", 2, "Production", False)
    s.transition_model_version_stage("m", 3, "Production", False)
    s.delete_model_version("m", 3)
    s.get_latest_versions("m")
    s.delete_model_version("m", 2)
    s.delete_model_version("m", 1)
    s.get_latest_versions("m")
    s.get_registered_model("m")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_registered_models(compare, name):
    compare(SCENARIOS[name])
