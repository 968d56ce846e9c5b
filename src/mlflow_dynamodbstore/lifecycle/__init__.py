"""Lifecycle: retention policies, the ``ttl`` written with items, the deletion index and
the cleanup that removes what expired entities owned (docs/lifecycle.md)."""
