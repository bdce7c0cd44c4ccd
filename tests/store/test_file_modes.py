"""The data directory is its owner's only (0700), the SQLite database, its WAL and shared-memory
files and the key file 0600, whatever the umask (here 000: everything readable and writable by
everyone unless shelfware sets the mode itself)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from shelfware.kit.crypto import KeyRing, write_key_file
from shelfware.settings import Settings
from shelfware.store import init_store, open_store


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_database_and_keys_are_private_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    home = tmp_path / "deep" / "home"
    settings = Settings(home=home, database_url=None, secret_keys=None)
    store = init_store(settings)
    try:
        with store.db.transaction() as session:  # a write: SQLite makes its -wal and -shm
            session.execute(text("CREATE TABLE probe (x INTEGER)"))
            session.execute(text("INSERT INTO probe VALUES (1)"))
        database = home / "shelfware.db"
        companions = [home / "shelfware.db-wal", home / "shelfware.db-shm"]
        assert all(p.exists() for p in companions), sorted(home.iterdir())
        assert mode(home) == 0o700
        for path in (database, settings.key_file, *companions):
            assert mode(path) == 0o600, (path, oct(mode(path)))
    finally:
        store.db.dispose()
    reopened = open_store(settings)
    reopened.db.dispose()
    assert mode(home) == 0o700 and mode(home / "shelfware.db") == 0o600


def test_init_takes_group_and_other_rights_from_an_existing_home(
    tmp_path: Path, open_umask: None
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    (home / "shelfware.db").touch(mode=0o666)
    init_store(Settings(home=home, database_url=None, secret_keys=None)).db.dispose()
    assert mode(home) == 0o700 and mode(home / "shelfware.db") == 0o600


def test_a_key_file_written_into_a_new_directory(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "keys-dir" / "keys"
    write_key_file(path, KeyRing([Fernet.generate_key()]))
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
