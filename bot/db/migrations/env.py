"""Alembic environment: runs migrations on the URL given by bot.db.migrate."""

from __future__ import annotations

from alembic import context

from bot.db.models import Base
from bot.db.session import make_engine

# Rasa's tracker store owns the `events` table in the same database; never touch it.
FOREIGN_TABLES = {"events"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Keeps autogenerate away from tables that belong to the dialogue engine."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def run_migrations_online() -> None:
    """Runs the migrations inside one transaction."""
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")  # bot.db.migrate always sets it
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
