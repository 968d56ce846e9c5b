"""Differential scenarios: model versions, stages, version tags and aliases."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag

VT = ModelVersionTag
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def create_versions(s):
    s.create_registered_model("m")
    s.create_model_version(
        "m", "s3://a", run_id="r1", tags=[VT("k", "v")], run_link="http://x", description="d"
    )
    s.create_model_version("m", "s3://b")
    s.get_model_version("m", 1)
    s.get_model_version("m", "2")
    s.get_registered_model("m")


@scenario
def create_version_missing_model(s):
    s.create_model_version("missing", "s3://a")
    s.create_model_version("", "s3://a")


@scenario
def create_version_bad_tags(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a", tags=[VT("", "v")])
    s.create_model_version("m", "s3://a", tags=[VT("k", "v" * 100_001)])
    s.create_model_version("m", "s3://a", tags=[VT("mlflow.prompt.text", "v" * 100_001)])
    s.create_model_version("m", "s3://a", tags=[VT("k", None)])
    s.create_model_version("m", "s3://a")


@scenario
def create_version_from_models_uri(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://bucket/model", run_id="r")
    s.create_model_version("m", "models:/m/1")
    s.get_model_version_download_uri("m", 2)
    s.get_model_version("m", 2)
    s.create_model_version("m", "models:/m/99")
    s.create_model_version("m", "models:/missing/1")


@scenario
def copy_model_version(s):
    s.create_registered_model("src")
    mv = s.create_model_version("src", "s3://a", run_id="r", tags=[VT("k", "v")], description="d")
    s.copy_model_version(mv, "dst")
    s.copy_model_version(mv, "dst")
    s.get_registered_model("dst")
    s.search_model_versions("name = 'dst'")


@scenario
def get_version_bad_input(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.get_model_version("m", "abc")
    s.get_model_version("m", 2)
    s.get_model_version("m", 0)
    s.get_model_version("m", -1)
    s.get_model_version("missing", 1)
    s.get_model_version("", 1)
    s.get_model_version_download_uri("m", 5)
    s.get_model_version_download_uri("m", "x")


@scenario
def download_uri(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://bucket/path")
    s.get_model_version_download_uri("m", 1)
    s.get_model_version_download_uri("m", "1")


@scenario
def update_version(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a", description="old")
    s.update_model_version("m", 1, "new")
    s.update_model_version("m", 1, None)
    s.update_model_version("m", 2, "x")
    s.update_model_version("m", "bad", "x")
    s.get_model_version("m", 1)
    s.get_registered_model("m")


@scenario
def transitions(s):
    s.create_registered_model("m")
    for i in range(3):
        s.create_model_version("m", f"s3://{i}")
    s.transition_model_version_stage("m", 1, "staging", False)
    s.transition_model_version_stage("m", 1, "PRODUCTION", False)
    s.transition_model_version_stage("m", 2, "Production", False)
    s.transition_model_version_stage("m", 3, "Archived", False)
    s.transition_model_version_stage("m", 3, "None", False)
    s.get_registered_model("m")
    s.search_model_versions("name='m'")


@scenario
def transition_archive_existing(s):
    s.create_registered_model("m")
    for i in range(4):
        s.create_model_version("m", f"s3://{i}")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.transition_model_version_stage("m", 2, "Production", False)
    s.transition_model_version_stage("m", 3, "Staging", False)
    s.transition_model_version_stage("m", 4, "Production", True)
    s.search_model_versions("name='m'", order_by=["version_number ASC"])
    s.get_latest_versions("m")


@scenario
def transition_bad_input(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.transition_model_version_stage("m", 1, "bogus", False)
    s.transition_model_version_stage("m", 1, "Archived", True)
    s.transition_model_version_stage("m", 1, "None", True)
    s.transition_model_version_stage("m", 2, "Production", False)
    s.transition_model_version_stage("m", "x", "Production", False)
    s.transition_model_version_stage("missing", 1, "Production", False)
    s.get_model_version("m", 1)


@scenario
def transition_archive_missing_version_changes_nothing(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.transition_model_version_stage("m", 7, "Production", True)
    s.get_model_version("m", 1)


@scenario
def delete_version_soft(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a", run_id="r", tags=[VT("k", "v")], run_link="l")
    s.create_model_version("m", "s3://b")
    s.set_registered_model_alias("m", "a1", 1)
    s.set_registered_model_alias("m", "a2", 2)
    s.delete_model_version("m", 1)
    s.get_model_version("m", 1)
    s.delete_model_version("m", 1)
    s.get_registered_model("m")
    s.search_model_versions("name = 'm'")
    s.search_model_versions("run_id = 'r'")
    s.create_model_version("m", "s3://c")
    s.set_model_version_tag("m", 1, VT("a", "b"))
    s.update_model_version("m", 1, "x")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.set_registered_model_alias("m", "a3", 1)
    s.get_model_version_download_uri("m", 1)


@scenario
def delete_version_bad_input(s):
    s.create_registered_model("m")
    s.delete_model_version("m", "x")
    s.delete_model_version("m", 1)
    s.delete_model_version("missing", 1)
    s.delete_model_version("", "x")


@scenario
def version_tags(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.set_model_version_tag("m", 1, VT("a", "1"))
    s.set_model_version_tag("m", "1", VT("a", "2"))
    s.set_model_version_tag("m", 1, VT("b.c", "3"))
    s.get_model_version("m", 1)
    s.delete_model_version_tag("m", 1, "a")
    s.delete_model_version_tag("m", 1, "never")
    s.get_model_version("m", 1)


@scenario
def version_tags_bad_input(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.set_model_version_tag("m", 2, VT("a", "1"))
    s.set_model_version_tag("m", "x", VT("a", "1"))
    s.set_model_version_tag("m", 1, VT("", "1"))
    s.set_model_version_tag("m", 1, VT("a", None))
    s.set_model_version_tag("missing", 1, VT("a", "1"))
    s.delete_model_version_tag("m", 2, "a")
    s.delete_model_version_tag("m", 1, "")
    s.delete_model_version_tag("m", "y", "a")


@scenario
def version_numbers_never_reused(s):
    s.create_registered_model("m")
    for i in range(3):
        s.create_model_version("m", f"s3://{i}")
    s.delete_model_version("m", 3)
    s.create_model_version("m", "s3://again")
    s.delete_model_version("m", 4)
    s.delete_model_version("m", 2)
    s.create_model_version("m", "s3://more")
    s.search_model_versions("name='m'")


@scenario
def aliases(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.create_model_version("m", "s3://b")
    s.set_registered_model_alias("m", "champion", 1)
    s.set_registered_model_alias("m", "challenger", "2")
    s.set_registered_model_alias("m", "champion", 2)
    s.get_model_version_by_alias("m", "champion")
    s.get_model_version_by_alias("m", "challenger")
    s.get_model_version("m", 2)
    s.get_model_version("m", 1)
    s.get_registered_model("m")
    s.get_latest_versions("m")
    s.delete_registered_model_alias("m", "champion")
    s.delete_registered_model_alias("m", "never")
    s.get_model_version_by_alias("m", "champion")
    s.get_registered_model("m")


@scenario
def alias_bad_input(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.set_registered_model_alias("m", "latest", 1)
    s.set_registered_model_alias("m", "LATEST", 1)
    s.set_registered_model_alias("m", "v1", 1)
    s.set_registered_model_alias("m", "V12", 1)
    s.set_registered_model_alias("m", "", 1)
    s.set_registered_model_alias("m", "bad alias!", 1)
    s.set_registered_model_alias("m", "a" * 256, 1)
    s.set_registered_model_alias("m", "ok", 5)
    s.set_registered_model_alias("m", "ok", "x")
    s.set_registered_model_alias("missing", "ok", 1)
    s.delete_registered_model_alias("missing", "ok")
    s.delete_registered_model_alias("m", "")
    s.get_model_version_by_alias("m", "nope")
    s.get_model_version_by_alias("missing", "nope")
    s.get_model_version_by_alias("m", "")


@scenario
def alias_latest(s):
    s.create_registered_model("m")
    s.get_model_version_by_alias("m", "latest")
    s.create_model_version("m", "s3://a")
    s.create_model_version("m", "s3://b")
    s.transition_model_version_stage("m", 1, "Production", False)
    s.get_model_version_by_alias("m", "latest")
    s.get_model_version_by_alias("m", "Latest")
    s.delete_model_version("m", 2)
    s.get_model_version_by_alias("m", "latest")
    s.get_model_version_by_alias("missing", "latest")


@scenario
def alias_on_deleted_version_is_removed(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.create_model_version("m", "s3://b")
    s.set_registered_model_alias("m", "x", 1)
    s.set_registered_model_alias("m", "y", 1)
    s.set_registered_model_alias("m", "z", 2)
    s.delete_model_version("m", 1)
    s.get_model_version_by_alias("m", "x")
    s.get_registered_model("m")
    s.get_model_version("m", 2)


@scenario
def several_aliases_one_version(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    for a in ["zeta", "alpha", "mid"]:
        s.set_registered_model_alias("m", a, 1)
    s.get_model_version("m", 1)
    s.update_model_version("m", 1, "d")
    s.transition_model_version_stage("m", 1, "Staging", False)
    s.get_latest_versions("m", ["Staging"])


@scenario
def model_last_updated_follows_version_changes(s):
    s.create_registered_model("m")
    s.create_model_version("m", "s3://a")
    s.get_registered_model("m")
    s.update_model_version("m", 1, "d")
    s.get_registered_model("m")
    s.transition_model_version_stage("m", 1, "Staging", False)
    s.get_registered_model("m")
    s.set_registered_model_alias("m", "a", 1)
    s.get_registered_model("m")
    s.delete_model_version("m", 1)
    s.get_registered_model("m")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_model_versions(compare, name):
    compare(SCENARIOS[name])
