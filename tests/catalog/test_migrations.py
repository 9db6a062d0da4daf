"""The Alembic chain: it builds exactly the models' schema on both backends and unwinds cleanly."""

from __future__ import annotations

from functools import partial

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from db.migrate import alembic_config, current_revision, head_revision, include_object
from db.models import Base


def test_chain_matches_models_and_downgrades(catalog: Engine) -> None:
    assert current_revision(catalog) == head_revision()
    with catalog.connect() as conn:
        dialect = catalog.dialect.name
        context = MigrationContext.configure(conn, opts={"include_object": partial(
            include_object, dialect=dialect)})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    indexes = {i["name"] for i in inspect(catalog).get_indexes("samples")}
    assert ("ix_samples_subset_scan" in indexes) == (catalog.dialect.name == "postgresql")
    command.downgrade(alembic_config(catalog), "base")
    assert set(inspect(catalog).get_table_names()) <= {"alembic_version"}
    command.upgrade(alembic_config(catalog), "head")
    assert "samples" in inspect(catalog).get_table_names()
