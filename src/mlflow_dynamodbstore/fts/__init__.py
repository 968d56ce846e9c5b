"""Trigram full-text index: postings written with the entities they index, read by the
searches to narrow ``LIKE`` / ``ILIKE`` filters to candidates (see docs/full-text-search.md)."""
