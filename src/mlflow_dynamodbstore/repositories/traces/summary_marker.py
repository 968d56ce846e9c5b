"""The marker protocol the cell families on a trace's stats item share (view_rollups.py,
cost_rollups.py): a summary attribute (JSON text) is counted in its cells exactly when the
item carries a marker attribute, a digest of (experiment, timestamp, summary); writes are
conditioned on the marker read, so a retried or raced write never counts twice."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase

Item = dict[str, Any]


@dataclass(frozen=True)
class SummaryMarker:
    summary: str  # the stats item's summary attribute
    marker: str  # present iff the summary is counted

    def digest(self, stats: Item) -> str:
        text = json.dumps(
            [str(stats["experiment_id"]), int(stats["timestamp_ms"]), stats[self.summary]]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def markers(self, stats: Item) -> Item:
        """The marker attribute a stats item is written with (its summary is counted)."""
        return {self.marker: self.digest(stats)} if self.summary in stats else {}

    def uncounted(self, stored: Item | None, new: Item) -> bool:
        """The stored stats item does not count a summary the new one has (written before
        these cells existed)."""
        return stored is not None and self.marker not in stored and self.summary in new

    def condition(self, stored: Item | None) -> ConditionBase | None:
        """That the stored stats item still counts what ``stored`` counts (None: nothing to
        add to a condition on a stats item that does not exist)."""
        if stored is None:
            return None
        if self.marker not in stored:
            return Attr(self.marker).not_exists()
        return Attr(self.marker).eq(stored[self.marker])
