"""Schema migrations with Alembic, run programmatically on sevres's own engine."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sevres.log import emit, events

_HERE = Path(__file__).parent / "migrations"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> str:
    """Bring the schema to the newest revision; returns that revision."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    revision = current(engine) or "none"
    emit(events.SCHEMA_UPGRADED, revision=revision)
    return revision


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def generate(engine: sa.Engine, message: str) -> None:
    """Developer helper: autogenerate a revision against an up-to-date database."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
