"""Assessment operations of the trace facade (feedback, expectations): SqlAlchemyStore's
create/get/update/delete_assessment rules, messages and error codes. The rules on the META
item live in repositories/assessments.py."""

from __future__ import annotations

from mlflow.entities import Assessment
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.store.tracking.dbmodels.models import SqlAssessments
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.traces import assessments as assessment_rules
from mlflow_dynamodbstore.repositories.traces.repository import TraceMissing


class TraceAssessmentOps:
    """Mixed into TraceOps, which provides ``traces``, ``_trace_item``, ``_mutate_trace`` and
    ``_workspaces_enabled``."""

    def create_assessment(self, assessment: Assessment) -> Assessment:
        sql = SqlAssessments.from_mlflow_entity(assessment)
        self._note_issue_reference(assessment)  # IssueOps: trace counts of issues
        self._mutate_trace(assessment.trace_id, lambda item: assessment_rules.add(item, sql))
        return sql.to_mlflow_entity()

    def _assessment_missing(self, trace_id: str, assessment_id: str) -> MlflowException:
        if self._trace_item(trace_id) is None:
            return MlflowException(
                f"Trace with request_id '{trace_id}' not found", RESOURCE_DOES_NOT_EXIST
            )
        return MlflowException(
            f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'",
            RESOURCE_DOES_NOT_EXIST,
        )

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        item = self._trace_item(trace_id)
        try:
            if item is None:
                raise assessment_rules.AssessmentMissing(assessment_id)
            return assessment_rules.get(item, assessment_id)
        except assessment_rules.AssessmentMissing:
            raise self._assessment_missing(trace_id, assessment_id) from None

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        name: str | None = None,
        expectation=None,
        feedback=None,
        rationale: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Assessment:
        existing = self.get_assessment(trace_id, assessment_id)
        new = assessment_rules.updated(
            existing,
            trace_id=trace_id,
            now=get_current_time_millis(),
            name=name,
            expectation=expectation,
            feedback=feedback,
            rationale=rationale,
            metadata=metadata,
        )

        self._note_issue_reference(new)  # IssueOps: trace counts of issues

        def change(item: dict) -> dict:
            stored = (item.get("assessments") or {}).get(assessment_id)
            if stored is None:
                raise self._assessment_missing(trace_id, assessment_id)
            item["assessments"] = {
                **item["assessments"],
                assessment_id: assessment_rules.replace_columns(stored, new),
            }
            return item

        gone = MlflowException(
            f"Trace with request_id '{trace_id}' not found", RESOURCE_DOES_NOT_EXIST
        )
        self._mutate_trace(trace_id, change, missing=gone)
        return new

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        current = self._trace_item(trace_id)
        if current is None:
            if self._workspaces_enabled():  # as the SQL workspace store; without, a no-op
                raise MlflowException(
                    f"Trace with ID '{trace_id}' not found.", RESOURCE_DOES_NOT_EXIST
                )
            return
        try:
            self.traces.mutate(
                trace_id,
                lambda item: assessment_rules.remove(item, assessment_id),
                current=current,
            )
        except TraceMissing:
            return
