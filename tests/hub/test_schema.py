"""The Alembic migrations (what `pos-hub init` runs) build exactly the schema of
hub/tables.py, on SQLite and PostgreSQL: a new column or index in one and not the other
fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from hub.tables import metadata

from .conftest import run_cli, write_config

pytestmark = pytest.mark.slow


def _shape(insp) -> dict:
    out = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": {c["name"]: (c["nullable"], type(c["type"]).__name__.lower())
                        for c in insp.get_columns(table)},
            "primary_key": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            # (PostgreSQL also lists the indexes behind unique constraints: those are
            # compared as constraints below)
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)
                              if "duplicates_constraint" not in i),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    return out


def test_migrations_build_the_schema_of_tables_py(fresh_url: str, tmp_path: Path):
    run_cli(write_config(tmp_path, fresh_url), "init")
    migrated = create_engine(fresh_url, poolclass=NullPool)
    with migrated.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        shape = _shape(inspect(conn))
    migrated.dispose()
    assert diff == []
    # and the same, compared by hand: tables, columns, keys, indexes
    assert set(shape) == set(metadata.tables)
    fresh = create_engine(f"sqlite:///{tmp_path / 'from-metadata.db'}", poolclass=NullPool)
    metadata.create_all(fresh)
    with fresh.connect() as conn:
        expected = _shape(inspect(conn))
    fresh.dispose()
    if fresh_url.startswith("sqlite"):
        assert shape == expected
    else:  # types are named by the dialect; names, nullability, keys and indexes agree
        def strip(s: dict) -> dict:
            return {t: {**v, "columns": {c: n for c, (n, _) in v["columns"].items()}}
                    for t, v in s.items()}
        assert strip(shape) == strip(expected)
