"""The models and the migrations never drift, and the migrations run both ways."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from marketplace.matching.models import outside_metadata
from marketplace.models import metadata
from tests.conftest import reset_database, upgrade_database


def test_models_match_migrated_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                # The FTS5 search table and its shadow tables, and the title index: hand-made
                # DDL in the migrations.
                "include_name": lambda name, type_, _parents: (
                    not (type_ in ("table", "index") and outside_metadata(name))
                ),
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    from alembic import command

    from tests.conftest import alembic_config

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with engine.connect() as connection:
        remaining = [
            name for name in engine.dialect.get_table_names(connection) if name != "alembic_version"
        ]
    assert remaining == []
    reset_database(engine)
    upgrade_database(engine)
