from tests.differential_auth.harness import auth_sqlite_template, compare  # noqa: F401
