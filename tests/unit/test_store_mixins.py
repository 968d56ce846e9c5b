"""The tracking store is assembled from one mixin per family (stores/tracking/). Two mixins
defining the same name is a silent override decided by the class order (it once made the
scorers answer a deleted experiment as labeling does): only deliberate cooperative
overrides, which call ``super()``, are allowed."""

from __future__ import annotations

import inspect
from collections import defaultdict

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

# name -> the mixin that extends the other's method through super()
COOPERATIVE = {"log_batch": "LoggedModelOps", "log_metric": "LoggedModelOps"}


def test_no_two_mixins_define_the_same_name():
    owners: dict[str, list[type]] = defaultdict(list)
    for cls in DynamoDBTrackingStore.__mro__[1:]:
        if cls.__module__.startswith("mlflow_dynamodbstore."):
            for name in vars(cls):
                if not name.startswith("__"):
                    owners[name].append(cls)
    clashes = {name: [c.__name__ for c in cls] for name, cls in owners.items() if len(cls) > 1}
    assert set(clashes) == set(COOPERATIVE), clashes
    for name, first in COOPERATIVE.items():
        extending = owners[name][0]
        assert extending.__name__ == first
        assert f"super().{name}(" in inspect.getsource(vars(extending)[name])
