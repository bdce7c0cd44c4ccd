"""Message templates: packaged defaults, overridden file by file in SHELFWARE_HOME/templates.

Templates run in Jinja2's sandbox (an admin's template cannot reach Python internals); HTML
parts are autoescaped. A message ``NAME`` has ``NAME.subject.txt``, ``NAME.txt``, ``NAME.html``
and ``NAME.chat.txt`` (the chat webhook's text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

MESSAGES = ("notice", "reminder", "approval")


class TemplateProblem(ValueError):
    """A template is missing or broken; the message names the file."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    chat: str


class Templates:
    def __init__(self, overrides: Path | None = None) -> None:
        loaders: list[Any] = []
        if overrides is not None:
            loaders.append(FileSystemLoader(overrides))
        loaders.append(PackageLoader("shelfware.notifications", "templates"))
        self._env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def render(self, message: str, context: dict[str, Any]) -> Rendered:
        if message not in MESSAGES:
            raise TemplateProblem(f"no message template {message!r}")
        parts = {}
        for part, suffix in (
            ("subject", "subject.txt"),
            ("text", "txt"),
            ("html", "html"),
            ("chat", "chat.txt"),
        ):
            name = f"{message}.{suffix}"
            try:
                parts[part] = self._env.get_template(name).render(context).strip()
            except TemplateError as exc:
                raise TemplateProblem(f"template {name}: {exc}") from exc
        subject = " ".join(parts["subject"].split())  # one line, whatever the template did
        return Rendered(subject, parts["text"] + "\n", parts["html"], parts["chat"])
