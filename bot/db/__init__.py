"""Database layer: SQLAlchemy 2 models, the unit of work, and Alembic migrations."""
