"""search_runs query plans: which index each order is read from, and how pages resume.

- Default order (or ``attributes.start_time`` first): walk each experiment's GSI1 listing in
  start-time order, k-way merged across experiments; stop once the page plus one match is
  found. For exactly the default order the index order *is* the SQL order, so no read-ahead.
- ``metrics.<key>`` first: walk the experiments' GSI2 rankings of that metric in value
  order, each the merge of its shards (search/runs/ranks.py; BatchGetItem of the META and
  LIVE items of each chunk of ranks), then the runs whose value
  is NaN (one group: SQL ties them), then the runs without the metric (a GSI1 walk skipping
  runs that have it), which is where SQL places them for both directions.
- ``attributes.run_id = / IN`` in the filter, any order: BatchGetItem of the listed runs.
- A tag clause the tag index serves (``=``, or a ``LIKE`` with a literal prefix, on a tag
  key whose entries are complete; ``attributes.run_name`` = / IN / LIKE through
  ``mlflow.runName``), any order: the matching entries (GSI2, one Query per experiment
  and value), then BatchGetItem of those runs, verified by the whole filter in memory.
- Else ``attributes.run_name LIKE / ILIKE / =`` with a literal of 3+ characters, any order: the
  trigram index (``fts/``) names the candidate runs of each experiment; BatchGetItem of
  their META items, verified by the whole filter and sorted in memory.
- Else ``tags.<k>`` / ``params.<k> LIKE / ILIKE / =`` with a literal of 3+ characters, when
  run_tag_value / run_param_value is configured and ready: the value postings of (experiment,
  key) name the candidates (search/runs/values.py), verified and sorted the same way.
- Anything else: read every run of the experiments from GSI1 and sort in memory.

Runs that tie on the column an index orders by are collected as one group and sorted by
the full SQL key (runs_page). Page tokens hold the last run's sort key; each walk starts at
the cursor's first sort value, so later pages do not re-read earlier ones; filter clauses
on the walked column narrow the walk too (runs_bounds).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import RUN_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.tag_index import TagIndexReader, narrows
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.search.runs.bounds import (
    EVERYTHING,
    KeyRange,
    metric_rank_range,
    start_time_cursor_range,
    start_time_filter_range,
)
from mlflow_dynamodbstore.search.runs.filter import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    TAG,
    Clause,
    RunFilter,
)
from mlflow_dynamodbstore.search.runs.loader import ViewLoader
from mlflow_dynamodbstore.search.runs.order import MISSING, NAN, PRESENT, Desc, RunOrder
from mlflow_dynamodbstore.search.runs.page import (
    Candidate,
    group_candidates,
    merge_streams,
    take_page,
)
from mlflow_dynamodbstore.search.runs.ranks import (
    chunks,
    experiment_rank_pks,
    rank_walk,
    rank_walk_with_stepping,
    stepping_pks,
)
from mlflow_dynamodbstore.search.runs.reads import (
    metric_rank_condition,
    metric_rank_prefix_condition,
    read_dataset_summaries,
    read_metas,
    read_metas_with_live,
    run_list_condition,
    walk,
)
from mlflow_dynamodbstore.search.runs.stepping import stepping_candidates, stepping_nan
from mlflow_dynamodbstore.search.runs.values import value_candidates
from mlflow_dynamodbstore.search.runs.view import DatasetRef, RunView, sql_metric_value

Groups = Iterator[list[RunView]]
_MAX_RUN_ID_LENGTH = 256  # longer ids are never created (and would overflow a key)


@dataclass
class RunSearch:
    gateway: TableGateway
    experiments: dict[str, dict]  # searched experiments (META items) by id
    stages: set[str]
    run_filter: RunFilter
    order: RunOrder
    max_results: int | None
    fts: TrigramIndex | None = None
    # The tag index, and whether it is complete and maintained for (experiment, tag key).
    tag_index: TagIndexReader | None = None
    tag_ready: Callable[[str, str], bool] | None = None

    def __post_init__(self) -> None:
        self.experiments = dict(self.experiments)  # pruned below; the caller's stays whole
        self.loader = ViewLoader(
            self.gateway, self.experiments, self.stages, self.run_filter, self.order
        )
        # Enough for the page, one more match (is there a next page?) and one more run to
        # close a group of ties; walks grow their pages when a filter rejects runs.
        self.first_limit = None if self.max_results is None else self.max_results + 2
        # start_time clauses bound every GSI1 walk (e.g. the UI's "created in the last day")
        self.time_range = start_time_filter_range(self.run_filter)
        # (experiment, metric key) -> views of the runs stepping it through LIVE
        self._stepping: dict[tuple[str, str], list[RunView]] = {}

    @property
    def strategy(self) -> str:
        if self._listed_run_ids() is not None:
            return "ids"
        # The tag index first: an exact value or prefix names fewer runs than trigrams do.
        if self._indexed_clause() is not None:
            return "tag"
        if self._named_run_ids() is not None:
            return "names"
        if self._valued_run_ids() is not None:
            return "values"
        first = self.order.clauses[0] if self.order.clauses else None
        if first is None or (first.kind == ATTRIBUTE and first.key == "start_time"):
            return "start_time"
        if first.kind == METRIC:
            return "metric"
        return "full"

    def run(self, cursor_raw: list | None) -> tuple[list[RunView], bool]:
        if self.run_filter.needs_datasets:
            self._drop_experiments_without_matching_datasets()
        if not self.experiments:
            return [], False
        groups = {
            "ids": self._listed_groups,
            "names": self._named_groups,
            "values": self._valued_groups,
            "tag": self._tag_groups,
            "start_time": self._start_time_groups,
            "metric": self._metric_groups,
            "full": self._full_groups,
        }[self.strategy](cursor_raw)
        cursor = self.order.key_from_token(cursor_raw) if cursor_raw is not None else None
        return take_page(groups, self.order, self.run_filter.matches, cursor, self.max_results)

    def _drop_experiments_without_matching_datasets(self) -> None:
        """A run's dataset inputs are among its experiment's dataset summaries, so when no
        summary satisfies a ``datasets.`` clause no run of that experiment can: skip the
        experiment (1 Query each) instead of reading every run's inputs."""
        clauses = [c for c in self.run_filter.clauses if c.kind == DATASET]
        for exp in list(self.experiments):
            refs = [
                DatasetRef(i["name"], i["digest"], i.get("context"))
                for i in read_dataset_summaries(self.gateway, exp)
            ]
            probe = RunView(
                run_id="",
                experiment_id=exp,
                run_name=None,
                user_id=None,
                status=None,
                start_time=None,
                end_time=None,
                artifact_uri=None,
                lifecycle_stage="",
                datasets=refs,
            )
            if not all(RunFilter((c,)).matches(probe) for c in clauses):
                del self.experiments[exp]

    # ---- run_id = / IN: the listed runs only ----------------------------------------------
    def _listed_run_ids(self) -> list[str] | None:
        """The only run ids the filter can accept (``attributes.run_id = 'x'`` or ``IN``), or
        None when it does not restrict ids; the UI's run comparison searches this way."""
        allowed: set[str] | None = None
        for c in self.run_filter.clauses:
            if c.kind != ATTRIBUTE or c.key != "run_id":
                continue
            if c.comparator == "IN":
                ids = {v for v in c.value if isinstance(v, str)}
            elif c.comparator == "=" and isinstance(c.value, str):
                ids = {c.value}
            else:
                continue
            allowed = ids if allowed is None else allowed & ids
        if allowed is None:
            return None
        # an id no run of ours can have (see RunRepository) is not even looked up
        return sorted(r for r in allowed if 0 < len(r) <= _MAX_RUN_ID_LENGTH)

    def _listed_groups(self, cursor_raw: list | None) -> Groups:
        """The listed runs by BatchGetItem (100 per request), sorted in memory; runs of
        other experiments are dropped by the loader."""
        metas = read_metas(self.gateway, self._listed_run_ids() or [])
        views = self.loader.load(list(metas.values()))
        if views:
            yield views

    # ---- run_name LIKE: candidates from the trigram index ------------------------------
    def _named_run_ids(self) -> list[str] | None:
        """The runs the trigram index names for the filter's run_name clauses (read once),
        or None when the index cannot narrow this search."""
        if not hasattr(self, "_named"):
            self._named = self._read_named_run_ids()
        return self._named

    def _read_named_run_ids(self) -> list[str] | None:
        clauses = [
            (c.comparator, c.value)
            for c in self.run_filter.clauses
            if c.kind == ATTRIBUTE and c.key == "run_name"
        ]
        required = required_trigrams(clauses)
        if not required or self.fts is None or not self.fts.usable(RUN_NAME):
            return None
        run_ids: list[str] = []
        for exp, item in self.experiments.items():
            found = self.fts.candidates(str(item.get("workspace", "")), RUN_NAME, exp, required)
            if found is None:
                return None  # a trigram too common everywhere: walk as usual
            run_ids.extend(sorted(found))
        return run_ids

    def _named_groups(self, cursor_raw: list | None) -> Groups:
        """The index's candidates of every experiment, as one group sorted in memory."""
        metas = read_metas(self.gateway, self._named_run_ids() or [])
        views = self.loader.load(list(metas.values()))
        if views:
            yield views

    # ---- tags.<k> / params.<k> LIKE: candidates from the value postings ----------------
    def _valued_run_ids(self) -> list[str] | None:
        if not hasattr(self, "_valued"):
            self._valued = value_candidates(self.fts, self.experiments, self.run_filter)
        return self._valued

    def _valued_groups(self, cursor_raw: list | None) -> Groups:
        metas = read_metas(self.gateway, self._valued_run_ids() or [])
        views = self.loader.load(list(metas.values()))
        if views:
            yield views

    # ---- a tag clause the tag index serves --------------------------------------------
    def _indexed_clause(self) -> tuple[str, Clause] | None:
        """(tag key, clause) of the most selective clause the tag index can narrow for every
        searched experiment: ``=`` before LIKE; None when there is none."""
        if self.tag_index is None or self.tag_ready is None or not self.experiments:
            return None
        usable = []
        for c in self.run_filter.clauses:
            if c.kind == TAG:
                key = c.key
            elif c.kind == ATTRIBUTE and c.key == "run_name":
                key = MLFLOW_RUN_NAME  # the SQL store matches run_name on this tag
            else:
                continue
            if not narrows(c.comparator, c.value):
                continue
            if all(self.tag_ready(exp, key) for exp in self.experiments):
                usable.append((0 if c.comparator == "=" else 1, key, c))
        if not usable:
            return None
        _, key, clause = min(usable, key=lambda u: u[0])
        return key, clause

    def _tag_groups(self, cursor_raw: list | None) -> Groups:
        """Runs the index lists for the clause (a superset: values cut in keys, SEP inside
        values), read by BatchGetItem and sorted in memory; take_page verifies the whole
        filter on META, so results equal the listing walk's."""
        key, clause = self._indexed_clause()  # type: ignore[misc]
        assert self.tag_index is not None
        run_ids: set[str] = set()
        for exp in self.experiments:
            run_ids |= self.tag_index.run_ids(exp, key, clause.comparator, clause.value)
        metas = read_metas(self.gateway, sorted(run_ids))
        views = self.loader.load(list(metas.values()))
        if views:
            yield views

    # ---- start_time order: GSI1 ----------------------------------------------------------
    def _start_time_groups(self, cursor_raw: list | None) -> Groups:
        ascending = bool(self.order.clauses) and self.order.clauses[0].ascending
        exact = self.order.is_default

        def merge_key(view: RunView) -> Any:
            if exact:
                return self.order.key(view)
            start = view.start_time or 0
            return start if ascending else Desc(start)

        streams = [
            self._gsi1_stream(
                exp,
                ascending,
                start_time_cursor_range(self.order, cursor_raw, ascending),
                merge_key,
            )
            for exp in self.experiments
        ]
        return group_candidates(merge_streams(streams), exact=exact)

    def _gsi1_stream(
        self, experiment_id: str, ascending: bool, key_range: KeyRange, merge_key, *, whole=False
    ) -> Iterator[Candidate]:
        """Runs of one experiment in start-time order, within ``key_range`` and what the
        filter's start_time clauses allow; ``whole`` reads full 1 MB pages at once."""
        key_range &= self.time_range
        if key_range.empty:
            return
        condition = run_list_condition(experiment_id, lower=key_range.lower, upper=key_range.upper)
        limit = None if whole else self.first_limit
        for page in walk(
            self.gateway,
            condition,
            index=indexes.RUNS_BY_START_TIME.index,
            forward=ascending,
            first_limit=limit,
        ):
            for view in self.loader.load(page):
                yield merge_key(view), view.start_time, view

    # ---- metric order: GSI2, then NaN, then missing --------------------------------------
    def _metric_groups(self, cursor_raw: list | None) -> Groups:
        clause = self.order.clauses[0]
        flag, value = cursor_raw[0] if cursor_raw is not None else (PRESENT, None)
        # Clauses on the ordered metric narrow the walk: a comparison needs the metric (no
        # missing runs), anything but "!=" also rules NaN out, and bounds limit the ranks.
        on_key = [c for c in self.run_filter.clauses if c.kind == METRIC and c.key == clause.key]
        phases = []
        if flag == PRESENT:
            key_range = metric_rank_range(on_key, clause.ascending, value)
            phases.append(self._ranked_groups(clause.key, clause.ascending, key_range))
        if flag in (PRESENT, NAN) and all(c.comparator == "!=" for c in on_key):
            phases.append(self._nan_group(clause.key))
        if not on_key:
            phases.append(self._missing_groups(clause.key, cursor_raw if flag == MISSING else None))
        return itertools.chain.from_iterable(phases)

    def _ranked_groups(self, key: str, ascending: bool, key_range: KeyRange) -> Groups:
        if key_range.empty:
            return iter(())
        streams = [self._rank_stream(exp, key, ascending, key_range) for exp in self.experiments]
        return group_candidates(merge_streams(streams), exact=False)

    def _rank_stream(
        self, experiment_id: str, key: str, ascending: bool, key_range: KeyRange
    ) -> Iterator[Candidate]:
        """The experiment's runs in value order: the ranked entries, merged with the runs
        stepping ``key`` through LIVE (read side by side with the first pages)."""
        known = (experiment_id, key) in self._stepping
        entries, stepping = rank_walk_with_stepping(
            self.gateway,
            experiment_rank_pks(self.experiments[experiment_id], key),
            [] if known else stepping_pks(experiment_id, key),
            lambda pk: metric_rank_condition(pk, lower=key_range.lower, upper=key_range.upper),
            ascending=ascending,
            first_limit=self.first_limit,
        )
        if not known:
            self._stepping[(experiment_id, key)] = self._load_stepping(stepping)
        live = stepping_candidates(
            self._stepping[(experiment_id, key)], experiment_id, key, ascending, key_range
        )
        ranked = self._ranked_candidates(entries, key, ascending)
        yield from heapq.merge(ranked, live, key=lambda candidate: candidate[0])

    def _ranked_candidates(
        self, entries: Iterator[dict], key: str, ascending: bool
    ) -> Iterator[Candidate]:
        for chunk in chunks(entries, self.first_limit):
            metas, lives = read_metas_with_live(self.gateway, [rank["run_id"] for rank in chunk])
            views = {v.run_id: v for v in self.loader.load(list(metas.values()), lives)}
            for rank in chunk:
                view = views.get(rank["run_id"])
                if view is None:
                    continue
                metric = view.metrics.get(key)
                ranked = sql_metric_value(float(rank["value"]))
                # a rank not matching the run's latest value is stale (the index lags a
                # write, or an unsharded entry not yet gone): skip it, the run's current
                # rank lists it where it belongs now
                if metric is None or metric.is_nan or metric.value != ranked:
                    continue
                yield (ranked if ascending else Desc(ranked)), ranked, view

    def _load_stepping(self, entries: list[dict]) -> list[RunView]:
        """Views (META merged with LIVE) of the runs the ``~S#`` entries name."""
        run_ids = list(dict.fromkeys(e["run_id"] for e in entries))
        metas, lives = read_metas_with_live(self.gateway, run_ids)
        return self.loader.load(list(metas.values()), lives)

    def _stepping_views(self, experiment_id: str, key: str) -> list[RunView]:
        if (experiment_id, key) not in self._stepping:
            _, found = rank_walk_with_stepping(
                self.gateway,
                [],
                stepping_pks(experiment_id, key),
                metric_rank_condition,
                ascending=True,
                first_limit=None,
            )
            self._stepping[(experiment_id, key)] = self._load_stepping(found)
        return self._stepping[(experiment_id, key)]

    def _nan_group(self, key: str) -> Groups:
        prefix = keys.metric_rank_value_prefix(math.nan)
        run_ids = [
            rank["run_id"]
            for exp, item in self.experiments.items()
            for rank in rank_walk(
                self.gateway,
                experiment_rank_pks(item, key),
                lambda pk: metric_rank_prefix_condition(pk, prefix),
                ascending=True,
                first_limit=None,
            )
        ]
        metas, lives = read_metas_with_live(self.gateway, list(dict.fromkeys(run_ids)))
        group = [
            v
            for v in self.loader.load(list(metas.values()), lives)
            if key in v.metrics and v.metrics[key].is_nan
        ]
        for exp in self.experiments:
            group += stepping_nan(self._stepping_views(exp, key), key)
        if group:
            yield group

    def _missing_groups(self, key: str, cursor_raw: list | None) -> Groups:
        if len(self.order.clauses) > 1:
            # further order keys: the whole missing group must be sorted in memory
            group = [v for g in self._full_groups(None) for v in g if key not in v.metrics]
            if group:
                yield group
            return

        # only the metric: missing runs follow in the default order, i.e. GSI1 backwards
        def resume(exp: str) -> KeyRange:
            if cursor_raw is None:
                return EVERYTHING
            start_time, run_id = cursor_raw[1], cursor_raw[2]
            return KeyRange(upper=keys.run_list_sk(start_time, run_id))

        streams = [
            _without_metric(self._gsi1_stream(exp, False, resume(exp), self.order.key), key)
            for exp in self.experiments
        ]
        yield from group_candidates(merge_streams(streams), exact=True)

    # ---- any other order: everything, sorted in memory -----------------------------------
    def _full_groups(self, cursor_raw: list | None) -> Groups:
        views = [
            candidate[2]
            for exp in self.experiments
            for candidate in self._gsi1_stream(exp, False, EVERYTHING, _no_key, whole=True)
        ]
        if views:
            yield views


def _no_key(view: RunView) -> None:
    return None


def _without_metric(stream: Iterator[Candidate], key: str) -> Iterator[Candidate]:
    return (c for c in stream if key not in c[2].metrics)
