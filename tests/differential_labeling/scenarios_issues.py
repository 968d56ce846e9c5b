"""Issues: create/get/update/search, filters, order, paging, bad input."""

from __future__ import annotations

from mlflow.entities.issue import IssueSeverity, IssueStatus

from tests.differential.harness import attempt
from tests.differential_labeling.registry import scenario


@scenario()
def create_get_update(store):
    e = store.create_experiment("e")
    run = store.create_run(e, "u", 1, [], "r")
    issue = store.create_issue(
        e,
        "Hallucination ✓",
        "The answer cites a paper that does not exist. ünïcødé",
        severity=IssueSeverity.HIGH,
        root_causes=["retrieval", "prompt"],
        source_run_id=run.info.run_id,
        categories=["quality"],
        created_by="alice",
    )
    plain = store.create_issue(e, "plain", "d")
    return {
        "issue": issue,
        "plain": plain,
        "got": store.get_issue(issue.issue_id),
        "update": store.update_issue(
            issue.issue_id, status=IssueStatus.RESOLVED, name="renamed", severity=IssueSeverity.LOW
        ),
        "update_description_only": store.update_issue(plain.issue_id, description="new"),
        "after": store.get_issue(issue.issue_id),
    }


@scenario()
def bad_input(store):
    e = store.create_experiment("e")
    store.delete_experiment(store.create_experiment("gone"))
    return {
        "missing_experiment": attempt(lambda: store.create_issue("12345", "n", "d")),
        "deleted_experiment": attempt(lambda: store.create_issue("2", "n", "d")),
        "non_integer_experiment": attempt(lambda: store.create_issue("abc", "n", "d")),
        "get_missing": attempt(lambda: store.get_issue("iss-" + "0" * 32)),
        "get_empty": attempt(lambda: store.get_issue("")),
        "update_missing": attempt(lambda: store.update_issue("iss-nope", name="x")),
        "search_bad_field": attempt(lambda: store.search_issues(e, filter_string="name = 'x'")),
        "search_bad_comparator": attempt(
            lambda: store.search_issues(e, filter_string="status LIKE 'x'")
        ),
        "search_bad_clause": attempt(
            lambda: store.search_issues(e, filter_string="status = 'a' OR status = 'b'")
        ),
        "search_bad_max": attempt(lambda: store.search_issues(e, max_results=0)),
        "search_too_many": attempt(lambda: store.search_issues(e, max_results=50001)),
        "search_bad_token": attempt(lambda: store.search_issues(e, page_token="garbage")),
        "search_bad_experiment": attempt(lambda: store.search_issues("abc")),
        "search_missing_experiment": store.search_issues("12345"),
    }


@scenario(messages=False)
def missing_source_run(store):
    """SQL answers its foreign key violation as BAD_REQUEST with the raw SQL error as the
    message; the code is compared, the message deliberately not."""
    e = store.create_experiment("e")
    return attempt(lambda: store.create_issue(e, "n", "d", source_run_id="f" * 32))


def _issues(store):
    e = store.create_experiment("e")
    other = store.create_experiment("other")
    severities = [None, IssueSeverity.LOW, IssueSeverity.HIGH, None, IssueSeverity.MEDIUM]
    runs = [store.create_run(e, "u", 1 + i, [], f"r{i}").info.run_id for i in range(2)]
    made = []
    for i in range(10):
        sev = severities[i % len(severities)]
        status = [IssueStatus.PENDING, IssueStatus.RESOLVED, IssueStatus.REJECTED][i % 3]
        made.append(
            store.create_issue(
                e,
                f"i{i}",
                "d",
                status=status,
                severity=sev,
                source_run_id=None if i % 4 == 0 else runs[i % 2],
            )
        )
    store.create_issue(other, "elsewhere", "d", severity=IssueSeverity.HIGH)
    store.update_issue(made[0].issue_id, severity=IssueSeverity.NOT_AN_ISSUE)
    return e, made, runs


def _names(result):
    return {"names": [i.name for i in result], "token": bool(result.token)}


@scenario()
def search_order_and_filters(store):
    e, _, runs = _issues(store)
    filters = [
        None,
        "status = 'pending'",
        "status != 'pending'",
        f"source_run_id = '{runs[1]}'",
        f"source_run_id != '{runs[1]}'",
        f"status = 'resolved' AND source_run_id = '{runs[1]}'",
        "status = 'PENDING'",
        "`status` = 'rejected'",
    ]
    return {f or "all": _names(store.search_issues(e, filter_string=f)) for f in filters}


@scenario()
def search_pages(store):
    e, _, _ = _issues(store)
    pages, token = [], None
    while True:
        page = store.search_issues(e, max_results=3, page_token=token)
        pages.append([i.name for i in page])
        token = page.token
        if not token:
            break
    filtered, token = [], None
    while True:
        page = store.search_issues(
            e, filter_string="status != 'rejected'", max_results=2, page_token=token
        )
        filtered.append([i.name for i in page])
        token = page.token
        if not token:
            return {"all": pages, "filtered": filtered}


@scenario()
def search_without_experiment_spans_the_workspace(store):
    _issues(store)
    return _names(store.search_issues())


def _reference(store, trace_id, issue):
    from mlflow.entities.assessment import IssueReference

    return store.create_assessment(
        IssueReference(issue_id=issue.issue_id, issue_name=issue.name, trace_id=trace_id)
    )


@scenario()
def search_with_trace_counts(store):
    from tests.differential_traces.builders import info

    e = store.create_experiment("e")
    for i in range(5):
        store.start_trace(info(f"tr-{i}", e, 1000 + i))
    high = [store.create_issue(e, f"high{i}", "d", severity=IssueSeverity.HIGH) for i in range(3)]
    low = store.create_issue(e, "low", "d", severity=IssueSeverity.LOW)
    none = store.create_issue(e, "none", "d")
    for t in ("tr-0", "tr-1", "tr-2"):
        _reference(store, t, high[0])
    _reference(store, "tr-0", high[0])  # the same trace twice counts once
    for t in ("tr-3", "tr-4"):
        _reference(store, t, high[2])
    gone = _reference(store, "tr-1", high[1])
    store.delete_assessment("tr-1", gone.assessment_id)
    for t in ("tr-0", "tr-4"):
        _reference(store, t, none)
    _reference(store, "tr-2", low)

    def counted(**kwargs):
        found = store.search_issues(e, include_trace_count=True, **kwargs)
        return {"issues": [(i.name, i.trace_count) for i in found], "token": bool(found.token)}

    first = counted()
    pages, token = [], None
    while True:
        page = store.search_issues(e, include_trace_count=True, max_results=2, page_token=token)
        pages.append([(i.name, i.trace_count) for i in page])
        token = page.token
        if not token:
            break
    store._delete_traces(e, trace_ids=["tr-3"])
    return {
        "first": first,
        "pages": pages,
        "filtered": counted(filter_string="status = 'pending'"),
        "after_trace_delete": counted(),
        "without_counts": [(i.name, i.trace_count) for i in store.search_issues(e)],
        "bad_token": attempt(
            lambda: store.search_issues(e, include_trace_count=True, page_token="garbage")
        ),
    }
