"""Trace tags, run links and trace deletion."""

from __future__ import annotations

from mlflow.tracing.constant import TraceTagKey

from tests.differential.harness import attempt
from tests.differential_traces.builders import info, info_plain, search_plain
from tests.differential_traces.registry import scenario


def _traces(store, n: int = 3, name: str = "e") -> str:
    e = store.create_experiment(name)
    for i in range(n):
        store.start_trace(info(f"tr-{i}", e, 1000 + 10 * i))
    return e


@scenario()
def set_trace_tag_and_overwrite(store):
    _traces(store, 1)
    store.set_trace_tag("tr-0", "k", "v1")
    store.set_trace_tag("tr-0", "k", "v2")
    store.set_trace_tag("tr-0", "other", "")
    return info_plain(store.get_trace_info("tr-0"))


@scenario()
def set_trace_name_tag(store):
    _traces(store, 1)
    store.set_trace_tag("tr-0", TraceTagKey.TRACE_NAME, "renamed")
    return info_plain(store.get_trace_info("tr-0"))


@scenario()
def set_trace_tag_long_value_is_truncated(store):
    _traces(store, 1)
    store.set_trace_tag("tr-0", "long", "x" * 9000)
    return len(store.get_trace_info("tr-0").tags["long"])


@scenario()
def set_trace_tag_invalid_key(store):
    _traces(store, 1)
    return [
        attempt(lambda: store.set_trace_tag("tr-0", "", "v")),
        attempt(lambda: store.set_trace_tag("tr-0", "k" * 300, "v")),
        attempt(lambda: store.set_trace_tag("tr-0", "../x", "v")),
    ]


@scenario()
def set_trace_name_too_long(store):
    _traces(store, 1)
    return attempt(lambda: store.set_trace_tag("tr-0", TraceTagKey.TRACE_NAME, "n" * 9000))


@scenario()
def delete_trace_tag(store):
    _traces(store, 1)
    store.set_trace_tag("tr-0", "k", "v")
    store.delete_trace_tag("tr-0", "k")
    return {
        "info": info_plain(store.get_trace_info("tr-0")),
        "again": attempt(lambda: store.delete_trace_tag("tr-0", "k")),
    }


@scenario()
def delete_trace_name_tag(store):
    _traces(store, 1)
    store.set_trace_tag("tr-0", TraceTagKey.TRACE_NAME, "n")
    store.delete_trace_tag("tr-0", TraceTagKey.TRACE_NAME)
    return {
        "info": info_plain(store.get_trace_info("tr-0")),
        "again": attempt(lambda: store.delete_trace_tag("tr-0", TraceTagKey.TRACE_NAME)),
    }


@scenario()
def delete_trace_tag_missing_trace(store):
    return [
        attempt(lambda: store.delete_trace_tag("tr-none", "k")),
        attempt(lambda: store.delete_trace_tag("tr-none", TraceTagKey.TRACE_NAME)),
    ]


@scenario()
def set_trace_name_on_missing_trace(store):
    return attempt(lambda: store.set_trace_tag("tr-none", TraceTagKey.TRACE_NAME, "x"))


@scenario()
def link_traces_to_run_and_search(store):
    e = _traces(store, 3)
    store.link_traces_to_run(["tr-0", "tr-2"], "run-a")
    store.link_traces_to_run(["tr-0"], "run-a")
    store.link_traces_to_run(["tr-1"], "run-b")
    return {
        "a": search_plain(store.search_traces([e], "run_id = 'run-a'")),
        "b": search_plain(store.search_traces([e], "run_id = 'run-b'")),
        "none": search_plain(store.search_traces([e], "run_id = 'run-c'")),
    }


@scenario()
def link_traces_limits(store):
    _traces(store, 1)
    return [
        attempt(lambda: store.link_traces_to_run([], "r")),
        attempt(lambda: store.link_traces_to_run([f"tr-{i}" for i in range(101)], "r")),
    ]


@scenario()
def delete_traces_by_timestamp(store):
    e = _traces(store, 5)
    deleted = store.delete_traces(e, max_timestamp_millis=1020)
    return {"deleted": deleted, "left": search_plain(store.search_traces([e]))}


@scenario()
def delete_traces_oldest_first_with_limit(store):
    e = store.create_experiment("e")
    for i, ts in enumerate([1000, 1000, 1000, 900, 1100]):
        store.start_trace(info(f"tr-{i}", e, ts))
    deleted = store.delete_traces(e, max_timestamp_millis=5000, max_traces=3)
    return {"deleted": deleted, "left": search_plain(store.search_traces([e]))}


@scenario()
def delete_traces_by_ids_only_in_experiment(store):
    e = _traces(store, 3)
    other = store.create_experiment("other")
    store.start_trace(info("tr-x", other))
    deleted = store.delete_traces(e, trace_ids=["tr-0", "tr-x", "tr-missing"])
    return {
        "deleted": deleted,
        "left": search_plain(store.search_traces([e, other])),
        "gone": attempt(lambda: store.get_trace_info("tr-0")),
    }


@scenario()
def delete_traces_argument_errors(store):
    e = _traces(store, 1)
    return [
        attempt(lambda: store.delete_traces(e)),
        attempt(lambda: store.delete_traces(e, max_timestamp_millis=1, trace_ids=["tr-0"])),
        attempt(lambda: store.delete_traces(e, trace_ids=["tr-0"], max_traces=1)),
        attempt(lambda: store.delete_traces(e, max_timestamp_millis=1, max_traces=0)),
    ]


@scenario()
def delete_traces_nothing_matches(store):
    e = _traces(store, 2)
    return store.delete_traces(e, max_timestamp_millis=10)
