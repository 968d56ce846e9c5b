"""An MLflow SQLite database with every migration applied and no rows the stores add at
start (the default experiment): tests copy it instead of migrating a fresh file. MLflow's
migrations take seconds per database (tens of seconds on the shared 2-core CI machine);
a copy takes milliseconds. A store or `mlflow server` opening the copy finds every table,
skips the migrations, and creates its default experiment as on an empty database."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def _template() -> Path:
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    directory = Path(tempfile.mkdtemp(prefix="mlflow-sqlite-template-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / "template.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    return path


def migrated_sqlite_uri(path: str | Path) -> str:
    """Copy the migrated template to ``path`` (its directory is created) and return its
    ``sqlite:///`` URI."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(), path)
    return f"sqlite:///{path}"
