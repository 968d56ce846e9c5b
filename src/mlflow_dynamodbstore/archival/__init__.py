"""Server-owned trace archival (MLflow 3.17's ``archive_traces``): old traces' spans move
from the table to an artifact location; see docs/trace-archival.md."""
