"""The one-way layers of docs/architecture.md, checked by import-linter (contracts in
pyproject.toml), and proof that the check fails when a layer reaches the wrong way."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, src: Path) -> tuple[dict[str, str], str]:
    """Run lint-imports on the package under ``src``; (contract name -> KEPT|BROKEN, output)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    verdicts = dict(
        (m.group(1), m.group(2)) for m in re.finditer(r"^(.+) (KEPT|BROKEN)$", out, re.MULTILINE)
    )
    assert verdicts, out
    assert (result.returncode == 0) == all(v == "KEPT" for v in verdicts.values()), out
    return verdicts, out


def violations(out: str) -> list[str]:
    return [line[1:].strip() for line in out.splitlines() if line.startswith("-   ")]


def test_the_package_keeps_its_layers():
    verdicts, out = lint_imports(ROOT, ROOT / "src")
    kit = "kit imports nothing of shelfware outside kit"
    assert set(verdicts) == {
        kit,
        "models import only kit",
        "connectors import only kit (and connectors)",
        "sandbox imports only kit (and sandbox)",
        "domain modules never import the faces",
        "jobs never import the faces",
        "faces never touch ORM models or SQLAlchemy (they call services)",
    }
    assert all(verdict == "KEPT" for verdict in verdicts.values()), out
    assert violations(out) == []


def test_a_wrong_import_breaks_the_check(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "shelfware", src / "shelfware", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    def inject(module: str, line: str) -> None:
        path = src / "shelfware" / module
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")

    inject("cli/rules.py", "import shelfware.models")
    inject("cli/reconcile.py", "from sqlalchemy import select")
    inject("licensing/service.py", "import shelfware.cli.output")
    inject("models/audit.py", "import shelfware.profiles.service")
    inject("jobs/tick.py", "import shelfware.api.app")
    inject("sync/service.py", "import shelfware.jobs.queue")

    verdicts, out = lint_imports(tmp_path, src)
    assert verdicts["faces never touch ORM models or SQLAlchemy (they call services)"] == "BROKEN"
    assert verdicts["domain modules never import the faces"] == "BROKEN"
    assert verdicts["models import only kit"] == "BROKEN"
    assert verdicts["jobs never import the faces"] == "BROKEN"
    found = " ".join(violations(out))
    for wrong in (
        "shelfware.cli.rules -> shelfware.models",
        "shelfware.cli.reconcile -> sqlalchemy",
        "shelfware.licensing.service -> shelfware.cli.output",
        "shelfware.models.audit -> shelfware.profiles.service",
        "shelfware.jobs.tick -> shelfware.api.app",
        "shelfware.sync.service -> shelfware.jobs.queue",
    ):
        assert wrong in found, out
    # the untouched layers stay kept: the check names what was wrong, not everything
    assert verdicts["sandbox imports only kit (and sandbox)"] == "KEPT"
