"""DynamoDB's service limits, stated once. The gateway enforces the request-shape ones
(batch and transaction sizes); repositories size chunks, spill thresholds and key parts
from them instead of repeating the numbers."""

from __future__ import annotations

# Largest item, attribute names and values included: 400 KB.
MAX_ITEM_BYTES = 400 * 1024
# Largest partition key and sort key value, of the table and of every index.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
# Largest expression string (UpdateExpression, ConditionExpression, ...): 4 KB.
MAX_EXPRESSION_BYTES = 4 * 1024
# Requests or actions per call.
BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
