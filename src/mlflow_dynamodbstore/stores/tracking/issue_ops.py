"""Issues (MLflow's ``mlflow.entities.Issue``), as the SQL store serves them: the same fields,
errors, filter semantics (``status`` / ``source_run_id`` with ``=`` / ``!=``), order and
page sizes. Searches read one experiment's (or one workspace's) listing, in order."""

from __future__ import annotations

import json
import uuid

from mlflow.entities.issue import IssueSeverity, IssueStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_ISSUES_DEFAULT_MAX_RESULTS
from mlflow.utils.search_utils import SearchIssuesUtils
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import _parse_experiment_id
from mlflow_dynamodbstore.repositories.issues import (
    IssueMissing,
    IssueRepository,
    severity_rank,
    to_issue,
)
from mlflow_dynamodbstore.repositories.labeling.pages import (
    decode_offset_token,
    encode_offset_token,
)
from mlflow_dynamodbstore.repositories.runs.repository import RunMissing
from mlflow_dynamodbstore.stores.tracking.labeling_ops import validate_max_results


def _issue_not_found(issue_id: str) -> MlflowException:
    return MlflowException(f"Issue with ID '{issue_id}' not found", RESOURCE_DOES_NOT_EXIST)


def _enum(enum_type, value, field: str):
    """The enum member for ``value``; the SQL store takes members only (a plain string fails
    there with an AttributeError, a 500), here a bad value is a 400."""
    if value is None or isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        raise MlflowException(
            f"Invalid {field} '{value}'. Must be one of: {allowed}", INVALID_PARAMETER_VALUE
        ) from None


def _matches(filters: list[dict]):
    """The SQL store's filter clauses over one issue item: ``=`` / ``!=`` on a column, where
    a NULL column matches neither (SQL's three-valued logic)."""

    def keep(item: dict) -> bool:
        for f in filters:
            value = item.get(f["key"])
            if value is None:
                return False
            if (value == f["value"]) != (f["comparator"] == "="):
                return False
        return True

    return keep


class IssueOps:
    """Mixed into DynamoDBTrackingStore, which provides ``issues``, ``_labeling_experiment_id``
    and ``_get_active_workspace``."""

    issues: IssueRepository

    def create_issue(
        self,
        experiment_id,
        name,
        description,
        status=IssueStatus.PENDING,
        severity=None,
        root_causes=None,
        source_run_id=None,
        categories=None,
        created_by=None,
    ):
        status = _enum(IssueStatus, status, "status")
        severity = _enum(IssueSeverity, severity, "severity")
        canonical = self._labeling_experiment_id(experiment_id)
        if source_run_id is not None:
            self._require_source_run(source_run_id)
        now = get_current_time_millis()
        item = {
            "issue_id": f"iss-{uuid.uuid4().hex}",
            "experiment_id": canonical,
            "name": name,
            "description": description,
            "status": status.value,
            "severity": severity.value if severity else None,
            "root_causes": json.dumps(root_causes) if root_causes else None,
            "source_run_id": source_run_id,
            "categories": json.dumps(categories) if categories else None,
            "created_timestamp": now,
            "last_updated_timestamp": now,
            "created_by": created_by,
            "workspace": self._get_active_workspace(),
        }
        return to_issue(self.issues.create(item))

    def _require_source_run(self, run_id: str) -> None:
        """The SQL store's foreign key on ``source_run_id``: its violation is a BAD_REQUEST
        there (with the raw SQL error as message), and so it is here (with a plain one)."""
        try:
            self.runs.get_meta(run_id)
        except RunMissing:
            raise MlflowException(
                f"Run '{run_id}' of the issue's source_run_id does not exist.", BAD_REQUEST
            ) from None

    def get_issue(self, issue_id):
        item = self.issues.get(issue_id)
        if item is None:
            raise _issue_not_found(issue_id)
        return to_issue(item)

    def update_issue(self, issue_id, status=None, name=None, description=None, severity=None):
        current = self.issues.get(issue_id)
        if current is None:
            raise _issue_not_found(issue_id)
        status = _enum(IssueStatus, status, "status")
        severity = _enum(IssueSeverity, severity, "severity")
        fields: dict = {}
        if status is not None:
            fields["status"] = status.value
        if name is not None:
            fields["name"] = name
        if description is not None:
            fields["description"] = description
        if severity is not None:
            fields["severity"] = severity.value
        fields["last_updated_timestamp"] = get_current_time_millis()
        try:
            return to_issue(self.issues.update(current, fields))
        except IssueMissing:
            raise _issue_not_found(issue_id) from None

    def search_issues(
        self,
        experiment_id=None,
        filter_string=None,
        max_results=None,
        page_token=None,
        include_trace_count=False,
    ):
        validate_max_results(max_results, allow_null=True)
        if max_results is None:
            max_results = SEARCH_ISSUES_DEFAULT_MAX_RESULTS
        experiment = str(_parse_experiment_id(experiment_id)) if experiment_id is not None else None
        filters = SearchIssuesUtils.parse_search_filter(filter_string) if filter_string else []
        if include_trace_count:
            return self._search_issues_with_trace_counts(
                experiment, filters, max_results, page_token
            )
        page = self.issues.search_page(
            experiment_id=experiment,
            workspace=self._get_active_workspace(),
            max_results=max_results,
            page_token=page_token,
            keep=_matches(filters) if filters else None,
        )
        return PagedList([to_issue(i) for i in page.items], token=page.token)

    def _search_issues_with_trace_counts(self, experiment, filters, max_results, page_token):
        """The SQL store's order with trace counts: severity DESC, trace count DESC, creation
        time DESC, id DESC. The count is a join in SQL (distinct traces with an ``issue``
        assessment naming the issue); here each issue's hints name candidate traces, and the
        traces' own assessments decide. Every matching issue is read to order them (the
        count is not in any index), and paged by offset as SQL does."""
        offset = decode_offset_token(page_token)
        issues = self.issues.list_all(
            experiment_id=experiment,
            workspace=self._get_active_workspace(),
            keep=_matches(filters) if filters else None,
        )
        hinted = {i["issue_id"]: self.issues.referencing_traces(i["issue_id"]) for i in issues}
        wanted = sorted({t for traces in hinted.values() for t in traces})
        traces = self.traces.batch_get(wanted) if wanted else {}
        counts = {
            issue_id: sum(1 for t in set(ids) if _references(traces.get(t), issue_id))
            for issue_id, ids in hinted.items()
        }
        issues.sort(
            key=lambda i: (
                -severity_rank(i.get("severity")),
                -counts[i["issue_id"]],
                -int(i["created_timestamp"]),
                _descending(i["issue_id"]),
            )
        )
        page = issues[offset : offset + max_results]
        token = (
            encode_offset_token(offset + max_results)
            if len(issues) > offset + max_results
            else None
        )
        return PagedList(
            [to_issue(i, trace_count=counts[i["issue_id"]]) for i in page], token=token
        )

    def _note_issue_reference(self, assessment) -> None:
        """Called before an assessment is written to a trace: an ``issue`` assessment names
        its issue, whose trace count must then find the trace (a hint written first can
        only be stale, never missing)."""
        if getattr(assessment, "issue", None) is not None:
            self.issues.note_trace(assessment.name, assessment.trace_id)


def _references(trace_item: dict | None, issue_id: str) -> bool:
    if trace_item is None:
        return False
    return any(
        a.get("assessment_type") == "issue" and a.get("name") == issue_id
        for a in (trace_item.get("assessments") or {}).values()
    )


class _descending(str):
    """Sorts strings in reverse inside an ascending sort key."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)
