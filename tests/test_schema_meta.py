"""Meta-tests: the one schema, its SQL migrations, the README reference and config stay in step."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dashboard import docs
from dashboard.schema import METADATA, TABLES, VOCABULARIES, polars_schema
from dashboard.settings import CONFIG_REFERENCE_MODELS, load_config
from dashboard.store import head_revision, make_engine, migrate, schema_revision

FIXTURE_CONFIG = Path(__file__).parent / "fixtures" / "ri" / "config"


def test_readme_reference_sections_are_generated_from_code() -> None:
    stale = docs.stale_sections(docs.README.read_text())
    assert stale == [], f"README sections out of date: {stale}; run `python -m dashboard.docs`"


def test_migrations_produce_exactly_the_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), METADATA)
    assert differences == [], "schema.py changed without a new Alembic revision"
    assert schema_revision(engine) == head_revision()


def test_sql_tables_and_polars_schemas_have_the_same_columns() -> None:
    for name, table in TABLES.items():
        sql_columns = [column.name for column in METADATA.tables[name].columns]
        assert sql_columns == list(polars_schema(name)), name
        assert [f.name for f in table.column_fields] == sql_columns
        primary_key = [column.name for column in METADATA.tables[name].primary_key.columns]
        assert primary_key == list(table.primary_key), name


def test_every_field_is_documented_and_names_a_known_vocabulary() -> None:
    config = load_config(FIXTURE_CONFIG)
    configured = config.vocabularies()
    for table in TABLES.values():
        for field in table.fields:
            assert field.help.strip(), f"{table.name}.{field.name} has no help text"
            if field.vocabulary is not None:
                assert field.vocabulary in VOCABULARIES, f"{table.name}.{field.name}"
                assert field.vocabulary in configured, f"{table.name}.{field.name}"
    assert set(configured) == set(VOCABULARIES)


def test_every_config_key_has_a_description() -> None:
    for title, model in CONFIG_REFERENCE_MODELS:
        for name, info in model.model_fields.items():
            assert info.description, f"{title}: {name} has no description"


def test_datetimes_are_utc_everywhere() -> None:
    for name in TABLES:
        for column, dtype in polars_schema(name, columns_only=False).items():
            if isinstance(dtype, pl.Datetime):
                assert dtype.time_zone == "UTC", f"{name}.{column}"
                sql_type = METADATA.tables[name].columns[column].type
                assert isinstance(sql_type, sa.DateTime) and sql_type.timezone


def test_shipped_config_is_the_demo_deployment(tmp_path: Path) -> None:
    """config/ is what `threat-picture demo --out data/demo` writes, pointed at data/demo/feeds."""
    import tomllib

    from dashboard.demo import generate

    shipped = Path(__file__).resolve().parent.parent / "config"
    config = load_config(shipped)
    assert config.settings.synthetic and config.settings.state == "CA"
    generate(tmp_path, incidents=1000)
    for name in ("taxonomy.toml", "regions.toml", "centers.toml", "settings.toml"):
        generated = tomllib.loads((tmp_path / "config" / name).read_text()
                                  .replace("../feeds/", "../data/demo/feeds/"))
        assert tomllib.loads((shipped / name).read_text()) == generated, name
