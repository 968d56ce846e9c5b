"""One archival pass over a workspace, with SqlAlchemyStore's rules
(``archive_traces`` / ``_plan_trace_archival`` / ``_execute_trace_archival_plan``):

1. Plan: every active experiment of the workspace gets a cutoff (now minus its effective
   retention: the experiment's ``mlflow.trace.archivalRetention`` tag against the broader
   retention and the long-retention allowlist); an experiment tagged
   ``mlflow.trace.archiveNow`` also gets an archive-now cutoff (its ``older_than``, or no
   cutoff). Candidates are each experiment's oldest archivable traces up to its cutoff, read
   from the trace-by-timestamp listing: archive-now candidates first, then the others, each
   ordered by (timestamp, trace id), at most ``max_traces_per_pass`` in all.
2. Execute, per trace: read META and spans, write the payload to the artifact location,
   flip META (a conditional write: only if no span was written since the read), then strip
   the span items' content. A failure leaves the trace for the next pass.
3. Clear each archive-now tag whose request is done (only the value the pass started from).

Crash-safe: the payload goes first (a rerun rewrites it), the flip is the commit point,
and a flipped trace whose strip did not finish is finished by the next pass.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from mlflow.entities import TraceState
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.tracing.constant import TraceTagKey
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.archival import payload
from mlflow_dynamodbstore.compat import archival as mlflow_archival
from mlflow_dynamodbstore.compat.archival import (
    TraceExperimentTagKey,
    _ArchiveNowRemainingState,
    _ArchiveNowRequest,
)
from mlflow_dynamodbstore.gateway.errors import GatewayError
from mlflow_dynamodbstore.repositories.traces import archival
from mlflow_dynamodbstore.repositories.traces.archival import TraceArchivalRepository

_logger = logging.getLogger(__name__)

Item = dict


@dataclass(frozen=True)
class ArchiveNow:
    experiment_id: str
    raw_value: str
    older_than_ms: int | None


@dataclass(frozen=True)
class Candidate:
    trace_id: str
    experiment_id: str
    timestamp_ms: int

    @classmethod
    def of(cls, item: Item) -> Candidate:
        return cls(item["trace_id"], str(item["experiment_id"]), int(item["timestamp_ms"]))

    @property
    def order(self) -> tuple[int, str]:
        return (self.timestamp_ms, self.trace_id)


def validate_arguments(
    location: str | None, broader_retention: str | None, max_traces_per_pass: int | None
) -> tuple[str, int]:
    """The SQL store's checks, in its order: (location, broader retention in ms)."""
    if max_traces_per_pass is not None and max_traces_per_pass <= 0:
        raise MlflowException.invalid_parameter_value(
            f"`max_traces_per_pass` must be a positive integer, received {max_traces_per_pass}."
        )
    if not location:
        raise MlflowException.invalid_parameter_value(
            "`resolved_trace_archival_location` must be provided."
        )
    location = mlflow_archival._validate_trace_archival_location(
        location, parameter_name="resolved_trace_archival_location"
    )
    if not broader_retention:
        raise MlflowException.invalid_parameter_value("`broader_retention` must be provided.")
    broader_retention = mlflow_archival._validate_trace_archival_retention_string(
        broader_retention, parameter_name="broader_retention"
    )
    retention_ms = mlflow_archival._parse_trace_archival_duration_millis(broader_retention)
    if retention_ms is None:
        raise MlflowException(
            "Trace archival config resolution returned no archival retention.",
            error_code=INTERNAL_ERROR,
        )
    return location, retention_ms


def effective_retention_ms(
    experiment_id: str, tags: dict[str, str], broader_ms: int, allowlist: set[str]
) -> int:
    resolved = mlflow_archival._resolve_effective_trace_archival_retention(
        experiment_id=experiment_id,
        experiment_tags=tags,
        broader_retention=mlflow_archival._validate_trace_archival_retention_string(
            mlflow_archival._format_trace_archival_duration_millis(broader_ms)
        ),
        long_retention_allowlist=allowlist,
    )
    millis = mlflow_archival._parse_trace_archival_duration_millis(resolved)
    return broader_ms if millis is None else millis


class ArchivalPass:
    def __init__(self, repo: TraceArchivalRepository, workspace: str):
        self.repo = repo
        self.workspace = workspace

    def run(
        self,
        *,
        location: str,
        broader_retention: str,
        long_retention_allowlist=None,
        max_traces_per_pass: int | None = None,
    ) -> int:
        location, broader_ms = validate_arguments(location, broader_retention, max_traces_per_pass)
        now = get_current_time_millis()
        allowlist = {str(e) for e in long_retention_allowlist or []}
        requests, candidates = self.plan(now, broader_ms, allowlist, max_traces_per_pass)
        return self.execute(requests, candidates, location, max_traces_per_pass, now)

    # ---- plan ------------------------------------------------------------------------
    def plan(
        self, now: int, broader_ms: int, allowlist: set[str], limit: int | None
    ) -> tuple[list[ArchiveNow], list[Candidate]]:
        requests: list[ArchiveNow] = []
        now_groups: dict[int | None, list[str]] = defaultdict(list)
        regular_groups: dict[int, list[str]] = defaultdict(list)
        for experiment in self.repo.active_experiments(self.workspace):
            experiment_id = str(experiment["experiment_id"])
            tags = experiment.get("tags") or {}
            raw = tags.get(TraceExperimentTagKey.ARCHIVE_NOW)
            request = _ArchiveNowRequest.from_tag_value(raw)
            if request and raw is not None:
                requests.append(ArchiveNow(experiment_id, raw, request.older_than_millis))
                older = request.older_than_millis
                now_groups[None if older is None else now - older].append(experiment_id)
            retention = effective_retention_ms(experiment_id, tags, broader_ms, allowlist)
            covered = request is not None and (
                request.older_than_millis is None or request.older_than_millis <= retention
            )
            if retention and not covered:
                regular_groups[now - retention].append(experiment_id)
        urgent = self._collect(now_groups, limit)
        regular: list[Candidate] = []
        if limit is None or len(urgent) < limit:
            regular = self._collect(regular_groups, limit)
        seen: set[str] = set()
        planned = []
        for candidate in [*urgent, *regular]:
            if candidate.trace_id not in seen:
                seen.add(candidate.trace_id)
                planned.append(candidate)
        return requests, planned

    def _collect(self, groups: dict, limit: int | None) -> list[Candidate]:
        found: list[Candidate] = []
        for cutoff, experiment_ids in groups.items():
            for experiment_id in experiment_ids:
                items, strips = self.repo.candidates(experiment_id, cutoff, limit)
                self._finish_strips(strips)
                found.extend(Candidate.of(i) for i in items)
                found.sort(key=lambda c: c.order)
                if limit is not None:
                    del found[limit:]
        return found

    def _finish_strips(self, strips: list[Item]) -> None:
        """Archived traces a crashed pass flipped but did not strip."""
        for meta in strips:
            try:
                self.repo.strip(meta)
            except (MlflowException, GatewayError):
                _logger.warning(
                    "Failed to strip archived trace %s.", meta["trace_id"], exc_info=True
                )

    # ---- execute ---------------------------------------------------------------------
    def execute(
        self,
        requests: list[ArchiveNow],
        candidates: list[Candidate],
        location: str,
        limit: int | None,
        now: int,
    ) -> int:
        urgent_experiments = {r.experiment_id for r in requests}
        retry_experiments: set[str] = set()
        archived = 0
        try:
            for candidate in candidates if limit is None else candidates[:limit]:
                try:
                    if self.archive_one(candidate.trace_id, location):
                        archived += 1
                except (MlflowException, GatewayError):
                    _logger.warning(
                        "Failed to archive trace %s; leaving it eligible for retry.",
                        candidate.trace_id,
                        exc_info=True,
                    )
                    if candidate.experiment_id in urgent_experiments:
                        retry_experiments.add(candidate.experiment_id)
        finally:
            self.clear_archive_now(requests, now, retry_experiments)
        return archived

    def archive_one(self, trace_id: str, location: str) -> bool:
        meta, span_items = self.repo.read(trace_id)
        if meta is None or not archival.metadata_actionable(meta):
            return False
        rows = self.repo.span_rows(span_items)
        if not archival.has_content(rows):
            return False
        generation = archival.payload_gen(meta)
        try:
            data = payload.serialize(rows)
        except mlflow_archival.MlflowTraceArchivalMalformedTrace:
            _logger.warning("Marking trace %s as MALFORMED_TRACE during archival.", trace_id)
            self.repo.mark_failure(
                trace_id,
                mlflow_archival.TraceArchivalFailureReason.MALFORMED_TRACE.value,
                generation,
                current=meta,
            )
            return False
        uri = payload.payload_uri(location, meta["experiment_id"], trace_id)
        try:
            payload.upload(uri, data)
        except MlflowException:
            self._forget_payload(trace_id, uri)
            raise
        try:
            flipped = self.repo.flip(trace_id, uri, generation, current=meta)
        except Exception as e:
            self._forget_payload(trace_id, uri)
            if isinstance(e, (MlflowException, GatewayError)):
                raise
            raise MlflowException("Trace archival finalization failed.") from e
        if flipped is None:
            self._forget_payload(trace_id, uri)
            return False
        try:
            self.repo.strip(flipped, span_items)
        except (MlflowException, GatewayError):
            # Archived all the same (reads use the payload); the next pass strips it.
            _logger.warning("Failed to strip archived trace %s.", trace_id, exc_info=True)
        return True

    def _forget_payload(self, trace_id: str, uri: str) -> None:
        """Delete a payload unless the trace points at it after all (the flip landed but
        its answer was lost)."""
        meta, _ = self.repo.read(trace_id)
        pointed = (meta or {}).get("tags", {}).get(TraceTagKey.ARCHIVE_LOCATION)
        if meta is not None and archival.is_archived(meta) and pointed == uri:
            return
        payload.delete_quietly(trace_id, uri)

    # ---- archive-now requests ----------------------------------------------------------
    def clear_archive_now(self, requests: list[ArchiveNow], now: int, retry: set[str]) -> None:
        for request in requests:
            if request.experiment_id in retry:
                continue
            cutoff = None if request.older_than_ms is None else now - request.older_than_ms
            state = self.remaining_state(request.experiment_id, cutoff)
            if state in (_ArchiveNowRemainingState.ARCHIVABLE, _ArchiveNowRemainingState.TRANSIENT):
                continue
            if state == _ArchiveNowRemainingState.BLOCKED_UNMARKED:
                _logger.warning(
                    "Clearing archive-now request %r on experiment %s. Some matching traces "
                    "still remain in the tracking store but are not currently archivable "
                    "and are not marked with an archival failure.",
                    request.raw_value,
                    request.experiment_id,
                )
            self.repo.clear_experiment_tag_if(
                request.experiment_id, TraceExperimentTagKey.ARCHIVE_NOW, request.raw_value
            )

    def remaining_state(self, experiment_id: str, cutoff: int | None) -> _ArchiveNowRemainingState:
        """What is left of an experiment's traces up to the cutoff whose spans are still in
        the table (the SQL store's ``_get_archive_now_remaining_state``)."""
        remaining = False
        transient = False
        unmarked = False
        for item in self.repo.listed_up_to(experiment_id, cutoff):
            if not archival.is_db_backed(item):
                continue
            remaining = True
            failed = TraceTagKey.ARCHIVAL_FAILURE in (item.get("tags") or {})
            if failed:
                continue
            if item.get("status") == TraceState.IN_PROGRESS.value:
                transient = True
                continue
            if self.repo.may_have_spans(item):
                return _ArchiveNowRemainingState.ARCHIVABLE
            unmarked = True
        if not remaining:
            return _ArchiveNowRemainingState.DONE
        if transient:
            return _ArchiveNowRemainingState.TRANSIENT
        if unmarked:
            return _ArchiveNowRemainingState.BLOCKED_UNMARKED
        return _ArchiveNowRemainingState.TERMINAL_FAILURES_ONLY
