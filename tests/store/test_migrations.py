"""The migrations on both stores: empty -> head, every step down to base and up again, and the
models match what the migrations build (autogenerate finds nothing to do).

Revisions are read from the script directory, never named, so new migrations are covered as
they are added. On PostgreSQL the tests rebuild the public schema of the test database and
leave it migrated to head (the ``db`` fixture relies on that).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from shelfware.kit.db import Database
from shelfware.models import Base, SoftwareModel
from shelfware.store import alembic_config, schema_is_current, upgrade
from tests.conftest import NOW, PG_URL

pytestmark = pytest.mark.store

SCRIPTS = ScriptDirectory.from_config(alembic_config())
# base -> head
REVISIONS = [r.revision for r in reversed(list(SCRIPTS.walk_revisions("base", "heads")))]
MODEL_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _reset_pg(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def empty(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An engine on an empty database of the configured store."""
    if PG_URL:
        database = Database.from_url(PG_URL)
        _reset_pg(database.engine)
        try:
            yield database.engine
        finally:
            _reset_pg(database.engine)
            upgrade(database.engine)
            database.dispose()
    else:
        database = Database.from_url(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield database.engine
        database.dispose()


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_one_head_and_a_linear_history() -> None:
    assert len(SCRIPTS.get_heads()) == 1, SCRIPTS.get_heads()
    assert REVISIONS and REVISIONS[-1] == SCRIPTS.get_current_head()
    for older, newer in itertools.pairwise(REVISIONS):
        assert SCRIPTS.get_revision(newer).down_revision == older


def test_empty_to_head(empty: Engine) -> None:
    assert not schema_is_current(empty)
    upgrade(empty)
    assert schema_is_current(empty)
    assert _current(empty) == SCRIPTS.get_current_head()
    assert _tables(empty) == MODEL_TABLES
    upgrade(empty)  # idempotent
    assert _current(empty) == SCRIPTS.get_current_head()


def test_every_step_up_then_down_to_base_and_up_again(empty: Engine) -> None:
    seen: list[set[str]] = []
    for revision in REVISIONS:
        _migrate(empty, "upgrade", revision)
        assert _current(empty) == revision
        seen.append(_tables(empty))
    assert seen[-1] == MODEL_TABLES
    for index in range(len(REVISIONS) - 1, -1, -1):
        down = SCRIPTS.get_revision(REVISIONS[index]).down_revision
        _migrate(empty, "downgrade", "base" if down is None else str(down))
        assert _current(empty) == (None if index == 0 else REVISIONS[index - 1])
        assert _tables(empty) == (set() if index == 0 else seen[index - 1])
    assert _tables(empty) == set()
    upgrade(empty)
    assert schema_is_current(empty) and _tables(empty) == MODEL_TABLES
    # and the models work on it: a row goes in and comes out
    with Session(empty) as session, session.begin():
        session.add(SoftwareModel(publisher="P", product="Q", edition="E", created_at=NOW))
    with Session(empty) as session:
        assert session.scalars(select(SoftwareModel.product)).one() == "Q"


def test_head_to_base_in_one_go(empty: Engine) -> None:
    upgrade(empty)
    _migrate(empty, "downgrade", "base")
    assert _current(empty) is None and _tables(empty) == set()


def test_models_match_the_migrations(empty: Engine) -> None:
    upgrade(empty)
    with empty.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
