from tests.differential_registry.harness import compare, sqlite_template  # noqa: F401
