"""Alembic environment: always run through `registry.migrate`, which passes the connection."""

from alembic import context
from sqlalchemy import text

from registry.models import SCHEMA, Base

config = context.config
connection = config.attributes["connection"]
connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table_schema=SCHEMA,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name == SCHEMA,
)
with context.begin_transaction():
    context.run_migrations()
