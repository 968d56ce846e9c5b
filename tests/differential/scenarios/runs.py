"""Run scenarios: create/get/update/delete/restore runs, experiment lifecycle as seen by runs,
params and tags."""

from __future__ import annotations

from mlflow.entities import Param, RunStatus, RunTag

from tests.differential.harness import attempt
from tests.differential.scenarios._run_helpers import (
    MISSING_RUN,
    _experiment,
    _fresh_run,
    _metric,
    _run,
    scenario,
)


# ---- create / get ---------------------------------------------------------------------
@scenario()
def create_run(store):
    eid = _experiment(store)
    run = store.create_run(eid, "alice", 1234, [RunTag("k", "v")], "my-run")
    return [run, store.get_run(run.info.run_id)]


@scenario()
def create_run_name_from_tag(store):
    eid = _experiment(store)
    run = store.create_run(eid, "u", 1, [RunTag("mlflow.runName", "from-tag")], None)
    return store.get_run(run.info.run_id)


@scenario()
def create_run_generated_name(store):
    run = store.create_run(_experiment(store), "u", 1, [], None)
    got = store.get_run(run.info.run_id)
    # the name is random; what must hold is that one is made and tagged
    return [bool(got.info.run_name), got.data.tags.get("mlflow.runName") == got.info.run_name]


@scenario()
def create_run_name_conflicts_with_tag(store):
    eid = _experiment(store)
    return attempt(lambda: store.create_run(eid, "u", 1, [RunTag("mlflow.runName", "a")], "b"))


@scenario()
def create_run_same_name_and_tag(store):
    eid = _experiment(store)
    run = store.create_run(eid, "u", 1, [RunTag("mlflow.runName", "same")], "same")
    return store.get_run(run.info.run_id)


@scenario()
def create_run_in_deleted_experiment(store):
    eid = _experiment(store)
    store.delete_experiment(eid)
    return attempt(lambda: store.create_run(eid, "u", 1, [], "r"))


@scenario()
def create_run_in_missing_experiment(store):
    return attempt(lambda: store.create_run("31337", "u", 1, [], "r"))


@scenario()
def create_run_bad_experiment_id(store):
    return attempt(lambda: store.create_run("abc", "u", 1, [], "r"))


@scenario()
def create_run_in_default_experiment(store):
    run = store.create_run("0", "u", 5, [], "in-default")
    return store.get_run(run.info.run_id).info


@scenario()
def create_run_invalid_tag_key(store):
    eid = _experiment(store)
    return attempt(lambda: store.create_run(eid, "u", 1, [RunTag("bad/../key", "v")], "r"))


@scenario()
def create_run_artifact_uri_under_experiment(store):
    eid = store.create_experiment("located", artifact_location="s3://bucket/exp")
    return store.get_run(_run(store, eid)).info


@scenario()
def get_run_missing(store):
    return attempt(lambda: store.get_run(MISSING_RUN))


@scenario()
def get_run_malformed_id(store):
    return attempt(lambda: store.get_run("not-a-run-id"))


# ---- update / delete / restore ---------------------------------------------------------
@scenario()
def update_run_info(store):
    rid = _fresh_run(store)
    info = store.update_run_info(rid, RunStatus.FINISHED, 5000, None)
    return [info, store.get_run(rid)]


@scenario()
def update_run_info_renames(store):
    rid = _fresh_run(store)
    info = store.update_run_info(rid, RunStatus.RUNNING, None, "renamed")
    return [info, store.get_run(rid).data.tags]


@scenario()
def update_run_info_each_status(store):
    rid = _fresh_run(store)
    out = []
    for status in (RunStatus.SCHEDULED, RunStatus.FAILED, RunStatus.KILLED, RunStatus.FINISHED):
        out.append(store.update_run_info(rid, status, 7000, None).status)
    return out


@scenario()
def update_run_info_deleted_run(store):
    rid = _fresh_run(store)
    store.delete_run(rid)
    return attempt(lambda: store.update_run_info(rid, RunStatus.FINISHED, 1, None))


@scenario()
def update_run_info_missing_run(store):
    return attempt(lambda: store.update_run_info(MISSING_RUN, RunStatus.FINISHED, 1, None))


@scenario()
def delete_and_restore_run(store):
    rid = _fresh_run(store)
    store.delete_run(rid)
    deleted = store.get_run(rid).info
    store.restore_run(rid)
    return [deleted, store.get_run(rid).info]


@scenario()
def delete_run_twice(store):
    rid = _fresh_run(store)
    store.delete_run(rid)
    return [attempt(lambda: store.delete_run(rid)), store.get_run(rid).info.lifecycle_stage]


@scenario()
def restore_active_run(store):
    rid = _fresh_run(store)
    return [attempt(lambda: store.restore_run(rid)), store.get_run(rid).info.lifecycle_stage]


@scenario()
def delete_missing_run(store):
    return [
        attempt(lambda: store.delete_run(MISSING_RUN)),
        attempt(lambda: store.restore_run(MISSING_RUN)),
    ]


@scenario()
def deleting_experiment_deletes_runs(store):
    eid = _experiment(store)
    rid = _run(store, eid)
    store.delete_experiment(eid)
    return [
        store.get_run(rid).info.lifecycle_stage,
        attempt(lambda: store.set_tag(rid, RunTag("k", "v"))),
        attempt(lambda: store.log_param(rid, Param("p", "1"))),
        attempt(lambda: store.log_metric(rid, _metric("m", 1.0))),
    ]


@scenario()
def restoring_experiment_restores_runs(store):
    eid = _experiment(store)
    rid = _run(store, eid)
    store.delete_experiment(eid)
    store.restore_experiment(eid)
    store.set_tag(rid, RunTag("after", "restore"))
    return store.get_run(rid)


@scenario()
def restoring_experiment_restores_runs_deleted_before(store):
    # SQL marks every run of the experiment active on restore, even one deleted earlier.
    eid = _experiment(store)
    early = _run(store, eid, 1000, "early")
    kept = _run(store, eid, 2000, "kept")
    store.delete_run(early)
    store.delete_experiment(eid)
    store.restore_experiment(eid)
    return [store.get_run(early).info.lifecycle_stage, store.get_run(kept).info.lifecycle_stage]


@scenario()
def run_deleted_after_experiment_restore(store):
    eid = _experiment(store)
    rid = _run(store, eid)
    store.delete_experiment(eid)
    store.restore_experiment(eid)
    store.delete_run(rid)
    return store.get_run(rid).info.lifecycle_stage


# ---- params -----------------------------------------------------------------------------
@scenario()
def log_param(store):
    rid = _fresh_run(store)
    store.log_param(rid, Param("lr", "0.01"))
    store.log_param(rid, Param("layers", "3"))
    return store.get_run(rid).data.params


@scenario()
def log_param_same_value_twice(store):
    rid = _fresh_run(store)
    store.log_param(rid, Param("p", "v"))
    return [attempt(lambda: store.log_param(rid, Param("p", "v"))), store.get_run(rid).data.params]


@scenario()
def log_param_changed_value(store):
    rid = _fresh_run(store)
    store.log_param(rid, Param("p", "v"))
    return [attempt(lambda: store.log_param(rid, Param("p", "w"))), store.get_run(rid).data.params]


@scenario()
def log_param_on_deleted_run(store):
    rid = _fresh_run(store)
    store.delete_run(rid)
    return attempt(lambda: store.log_param(rid, Param("p", "v")))


@scenario()
def log_param_on_missing_run(store):
    return attempt(lambda: store.log_param(MISSING_RUN, Param("p", "v")))


@scenario()
def log_param_invalid_key(store):
    rid = _fresh_run(store)
    return [
        attempt(lambda: store.log_param(rid, Param("../x", "v"))),
        attempt(lambda: store.log_param(rid, Param("a" * 251, "v"))),
    ]


@scenario()
def log_param_long_values(store):
    rid = _fresh_run(store)
    return [
        attempt(lambda: store.log_param(rid, Param("ok", "v" * 6000))),
        attempt(lambda: store.log_param(rid, Param("too_long", "v" * 6001))),
        sorted(store.get_run(rid).data.params),
    ]


@scenario()
def log_param_empty_value(store):
    rid = _fresh_run(store)
    store.log_param(rid, Param("empty", ""))
    return store.get_run(rid).data.params


# ---- tags -------------------------------------------------------------------------------
@scenario()
def set_and_overwrite_tag(store):
    rid = _fresh_run(store)
    store.set_tag(rid, RunTag("k", "v1"))
    store.set_tag(rid, RunTag("k", "v2"))
    store.set_tag(rid, RunTag("mlflow.note.content", "note"))
    return store.get_run(rid).data.tags


@scenario()
def set_tag_run_name(store):
    rid = _fresh_run(store)
    store.set_tag(rid, RunTag("mlflow.runName", "via-tag"))
    return store.get_run(rid).info.run_name


@scenario()
def set_tag_invalid(store):
    rid = _fresh_run(store)
    return [
        attempt(lambda: store.set_tag(rid, RunTag("", "v"))),
        attempt(lambda: store.set_tag(rid, RunTag("a//b/../c", "v"))),
        attempt(lambda: store.set_tag(rid, RunTag("k" * 251, "v"))),
    ]


@scenario()
def set_tag_long_value(store):
    rid = _fresh_run(store)
    result = attempt(lambda: store.set_tag(rid, RunTag("long", "x" * 9000)))
    return [result, len(store.get_run(rid).data.tags.get("long", ""))]


@scenario()
def set_tag_on_deleted_run(store):
    rid = _fresh_run(store)
    store.delete_run(rid)
    return attempt(lambda: store.set_tag(rid, RunTag("k", "v")))


@scenario()
def delete_tag(store):
    rid = _fresh_run(store)
    store.set_tag(rid, RunTag("k", "v"))
    store.delete_tag(rid, "k")
    return store.get_run(rid).data.tags


@scenario()
def delete_tag_missing_key(store):
    rid = _fresh_run(store)
    return attempt(lambda: store.delete_tag(rid, "nope"))


@scenario()
def delete_tag_on_deleted_run(store):
    rid = _fresh_run(store)
    store.set_tag(rid, RunTag("k", "v"))
    store.delete_run(rid)
    return attempt(lambda: store.delete_tag(rid, "k"))


@scenario()
def delete_tag_on_missing_run(store):
    return attempt(lambda: store.delete_tag(MISSING_RUN, "k"))
