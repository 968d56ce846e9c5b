"""The one seam between this package and MLflow's private or recently moved helpers.

The package supports a range of MLflow releases (README: "Supported MLflow releases"). Helpers
MLflow made private, moved or added after the oldest supported release are imported here, with
a copy for the releases that lack them (each copy names the release it came from). Every other
module imports them from ``mlflow_dynamodbstore.compat.*``, so a new MLflow release that moves
one breaks one file, and ``tests/unit/test_compat.py`` says which.
"""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

#: The oldest MLflow release the package supports (pyproject's floor; tested by
#: scripts/test-compat.sh) and the release the main suite runs on (constraints.txt).
OLDEST_SUPPORTED = Version("3.15")
MLFLOW_VERSION = Version(version("mlflow"))
MLFLOW_RELEASE = Version(f"{MLFLOW_VERSION.major}.{MLFLOW_VERSION.minor}")


def mlflow_at_least(release: str) -> bool:
    """Whether the installed MLflow is ``release`` (``"3.17"``) or newer, patches included."""
    return Version(release) <= MLFLOW_RELEASE
