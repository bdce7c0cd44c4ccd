"""In-process CLI runs (the real `shelfware` app and its error handling, without a subprocess)
against an initialised SQLite home with one software model and one draft profile."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfware.cli.context import run
from shelfware.cli.main import app
from shelfware.kit.clock import FrozenClock
from shelfware.kit.crypto import load_key_file
from shelfware.kit.db import Database
from shelfware.profiles import service as profiles
from shelfware.profiles.schemas import ProfileCreate
from tests.conftest import NOW

MODEL = "Broadcom Rally Unlimited"
PROFILE = "rally-main"
SECRET = "s3cret-api-key-for-tests"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def invoke(home: Path, *args: str, env: Mapping[str, str | None] | None = None) -> Ran:
    """``shelfware ARGS`` in this process, exactly as ``main()`` runs it (minus ``sys.exit``)."""
    full_env: dict[str, str | None] = {
        "SHELFWARE_HOME": str(home),
        "SHELFWARE_CLOCK": NOW.isoformat(),
        "SHELFWARE_DATABASE_URL": None,
        "SHELFWARE_SECRET_KEYS": None,
        "K": SECRET,
        **(env or {}),
    }
    with CliRunner().isolation(env=full_env) as (out, err, _):
        code = run(app, list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        ran = Ran(code, out.getvalue().decode(), err.getvalue().decode())
    return ran


def assert_one_line_error(ran: Ran, *words: str) -> str:
    """A refusal: non-zero exit, one ``error:`` line on stderr, no traceback, no 'unexpected'."""
    lines = ran.stderr.strip().splitlines()
    assert ran.code in (1, 2), ran
    assert len(lines) == 1 and lines[0].startswith("error: "), ran
    assert "Traceback" not in ran.stderr + ran.stdout and "unexpected" not in lines[0], ran
    for word in words:
        assert word in lines[0], (word, ran)
    return lines[0]


def database(home: Path) -> Database:
    return Database.from_url(f"sqlite:///{home / 'shelfware.db'}")


def seed_home(home: Path) -> None:
    """``shelfware init``, then a software model (with its default rule) and a draft profile."""
    assert invoke(home, "init").code == 0
    db = database(home)
    clock = FrozenClock(NOW)
    with db.transaction() as session:
        profiles.ensure_software_model(session, clock, "Broadcom", "Rally", "Unlimited")
        profiles.create_profile(
            session,
            load_key_file(home / "keys"),
            clock,
            ProfileCreate(
                kind="rally",
                name=PROFILE,
                url="https://rally1.rallydev.com/slm/webservice",
                secrets={"api_key": SECRET},
            ),
        )
    db.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    seed_home(tmp_path / "home")
    yield tmp_path / "home"
