"""Message templates: packaged defaults, overridden file by file in SHELFWARE_HOME/templates.

Templates run in Jinja2's sandbox (an admin's template cannot reach Python internals); HTML
parts are autoescaped. A message ``NAME`` has ``NAME.subject.txt``, ``NAME.txt``, ``NAME.html``
and ``NAME.chat.txt`` (the Slack direct message's text). ``summary.chat.txt`` is what the shared
chat webhook gets: counts and app names, never a person's links.

Chat parts are Slack mrkdwn: every value a chat template prints is escaped (``&``, ``<``,
``>``: ``mrkdwn_escape``), so a vendor's ``<!channel>`` or ``<https://evil|Keep my seat>`` is
shown as text, not obeyed. Only a value the code marks as ``markupsafe.Markup`` (none of the
vendor's) passes as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

MESSAGES = ("notice", "reminder", "approval", "renewal", "review")
# What the per-seat messages print about a downgrade ("we will move you to B"); a removal's
# context (and an older caller's) leaves them blank, so the templates say "released".
DOWNGRADE_DEFAULTS: dict[str, Any] = {"move_to": "", "active_days": "", "window_days": ""}
CHAT_ONLY = ("summary",)


def mrkdwn_escape(value: object) -> str:
    """Text shown as it is in Slack mrkdwn (the three characters Slack asks to escape)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chat_value(value: object) -> object:
    if isinstance(value, Markup):
        return str(value)
    return mrkdwn_escape("" if value is None else value)


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
        self._chat = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=False,
            finalize=_chat_value,  # every printed value: mrkdwn-escaped
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def render(self, message: str, context: dict[str, Any]) -> Rendered:
        if message not in MESSAGES:
            raise TemplateProblem(f"no message template {message!r}")
        parts = {}
        context = {**DOWNGRADE_DEFAULTS, **context}
        for part, suffix in (
            ("subject", "subject.txt"),
            ("text", "txt"),
            ("html", "html"),
            ("chat", "chat.txt"),
        ):
            parts[part] = self._render(f"{message}.{suffix}", context)
        subject = " ".join(parts["subject"].split())  # one line, whatever the template did
        return Rendered(subject, parts["text"] + "\n", parts["html"], parts["chat"])

    def render_chat(self, message: str, context: dict[str, Any]) -> str:
        """The chat text of a chat-only message (``summary``)."""
        if message not in CHAT_ONLY:
            raise TemplateProblem(f"no chat template {message!r}")
        return self._render(f"{message}.chat.txt", context)

    def _render(self, name: str, context: dict[str, Any]) -> str:
        env = self._chat if name.endswith(".chat.txt") else self._env
        try:
            return env.get_template(name).render(context).strip()
        except TemplateError as exc:
            raise TemplateProblem(f"template {name}: {exc}") from exc
