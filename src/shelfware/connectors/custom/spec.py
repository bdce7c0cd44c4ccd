"""The custom integration spec: a YAML or JSON document describing any SaaS app's admin API
with the connector kit's closed catalogues. Validated strictly (`extra="forbid"`): a mistake is
reported with the path of the bad field and what was expected. No code, no expressions:
JSONPath (the kit's subset) for selection, placeholders for values, a closed list of transforms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shelfware.connectors.custom.templates import TemplateError, placeholders
from shelfware.connectors.toolkit.selectors import JsonPath, PathError

SPEC_VERSION = 1
# A spec is a few kilobytes; the limit holds for YAML and JSON alike (JSON is read as YAML).
MAX_SPEC_BYTES = 256 * 1024
# Nesting deeper than this is no spec (and would exhaust the parser's recursion).
MAX_SPEC_DEPTH = 50


class SpecError(ValueError):
    """A custom spec is malformed; the message names each bad field by its path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_path(value: str) -> str:
    try:
        JsonPath.parse(value)
    except PathError as error:
        raise ValueError(str(error)) from None
    return value


def _check_template(value: str, *, allowed: frozenset[str]) -> str:
    try:
        used = placeholders(value)
    except TemplateError as error:
        raise ValueError(str(error)) from None
    for namespace, name in used:
        if namespace not in allowed:
            raise ValueError(
                f"{{{namespace}.{name}}} cannot be used here (allowed: "
                + ", ".join(f"{{{n}.*}}" for n in sorted(allowed))
                + ")"
            )
    return value


JsonPathText = Annotated[str, Field(min_length=1, max_length=500)]


# --------------------------------------------------------------------------- app and auth


class App(_Strict):
    publisher: str = Field(min_length=1, max_length=200)
    product: str = Field(min_length=1, max_length=200)
    edition: str = Field(default="Standard", min_length=1, max_length=200)
    # editions whose seats cost nothing (guests): never removal candidates by default
    unpaid_editions: list[str] = Field(default_factory=list, max_length=20)


class Condition(_Strict):
    """Keep a record only when the value at `path` is one of `in` (a closed test, no code)."""

    path: JsonPathText
    in_: list[str | bool | int] = Field(alias="in", min_length=1, max_length=100)

    _path = field_validator("path")(_check_path)


class BearerSpec(_Strict):
    type: Literal["bearer"]
    token: str = "{secrets.api_key}"

    _token = field_validator("token")(
        lambda v: _check_template(v, allowed=frozenset({"secrets", "config"}))
    )


class ApiKeySpec(_Strict):
    type: Literal["api_key"]
    name: str = Field(min_length=1, max_length=100, description="header or query parameter")
    location: Literal["header", "query"] = "header"
    prefix: str = Field(default="", max_length=50)
    key: str = "{secrets.api_key}"

    _key = field_validator("key")(
        lambda v: _check_template(v, allowed=frozenset({"secrets", "config"}))
    )


class BasicSpec(_Strict):
    """The "Basic Auth with API Key" template: user name and password (or API key)."""

    type: Literal["basic"]
    username: str = "{config.username}"
    password: str = "{secrets.api_key}"

    _values = field_validator("username", "password")(
        lambda v: _check_template(v, allowed=frozenset({"secrets", "config"}))
    )


class ClientCredentialsSpec(_Strict):
    type: Literal["oauth2_client_credentials"]
    token_path: str = Field(description="token endpoint path on the base URL's host")
    client_id: str = "{config.client_id}"
    client_secret: str = "{secrets.client_secret}"
    scope: str | None = None

    _values = field_validator("client_id", "client_secret")(
        lambda v: _check_template(v, allowed=frozenset({"secrets", "config"}))
    )
    _path = field_validator("token_path")(lambda v: _relative_path(v))


class AuthorizationCodeSpec(_Strict):
    """OAuth 2.0 authorization code with PKCE: tokens come from `shelfware profile
    authorize`; the connector uses (and refreshes) them."""

    type: Literal["oauth2_authorization_code"]
    authorize_path: str
    token_path: str
    scope: str | None = None

    _paths = field_validator("authorize_path", "token_path")(lambda v: _relative_path(v))


AuthSpec = Annotated[
    BearerSpec | ApiKeySpec | BasicSpec | ClientCredentialsSpec | AuthorizationCodeSpec,
    Field(discriminator="type"),
]


def _relative_path(value: str) -> str:
    """Every request stays on the profile's base URL: paths only, never a host."""
    if not value.startswith("/") or "://" in value or value.startswith("//") or "\\" in value:
        raise ValueError(f"{value!r} must be a path on the profile's URL, starting with /")
    return value


# --------------------------------------------------------------------------- paging


class SinglePageSpec(_Strict):
    type: Literal["single_page"]


class PageNumberSpec(_Strict):
    type: Literal["page_number"]
    param: str = "page"
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1, le=10_000)
    first: int = Field(default=1, ge=0, le=1)


class OffsetSpec(_Strict):
    type: Literal["offset"]
    param: str = "offset"
    limit_param: str = "limit"
    size: int = Field(default=100, ge=1, le=10_000)


class StartIndexSpec(_Strict):
    type: Literal["start_index"]
    start_param: str = "startIndex"
    size_param: str = "count"
    size: int = Field(default=100, ge=1, le=10_000)
    total: JsonPathText = Field(description="where each page reports the total")

    _total = field_validator("total")(_check_path)


class CursorSpec(_Strict):
    type: Literal["cursor"]
    cursor: JsonPathText = Field(description="where the body holds the next cursor")
    param: str = Field(min_length=1, description="query parameter, or dotted JSON body path")
    inject: Literal["query", "json"] = "query"
    has_more: JsonPathText | None = None

    _paths = field_validator("cursor", "has_more")(lambda v: v if v is None else _check_path(v))


class NextUrlSpec(_Strict):
    type: Literal["next_url"]
    next: JsonPathText

    _next = field_validator("next")(_check_path)


class LinkHeaderSpec(_Strict):
    type: Literal["link_header"]
    rel: str = "next"


PaginationSpec = Annotated[
    SinglePageSpec
    | PageNumberSpec
    | OffsetSpec
    | StartIndexSpec
    | CursorSpec
    | NextUrlSpec
    | LinkHeaderSpec,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- fields


DateFormat = Literal["iso8601", "epoch_seconds", "epoch_millis"] | str
Transform = Literal["lower", "upper", "trim"]


class FieldSpec(_Strict):
    """Where a value comes from and how it is transformed (a closed list)."""

    path: JsonPathText | None = None
    coalesce: list[JsonPathText] | None = Field(default=None, min_length=1, max_length=10)
    latest: list[JsonPathText] | None = Field(
        default=None, min_length=1, max_length=10, description="the latest of several dates"
    )
    const: str | bool | int | None = None
    transform: list[Transform] = Field(default_factory=list, max_length=5)
    # vendor value -> ours; keys match without regard to case, spaces, hyphens or underscores.
    # For `admin` and `active` a present value not in the map is never guessed (not even as
    # `default`, which is for absent values): the account is an unrecognised admin holding a
    # seat, never a candidate, and `profile validate` lists the value.
    map: dict[str, str | bool] | None = Field(default=None, max_length=100)
    format: DateFormat | None = Field(default=None, max_length=60)
    default: str | bool | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [s for s in (self.path, self.coalesce, self.latest) if s is not None]
        if len(sources) + (self.const is not None) != 1:
            raise ValueError("give exactly one of path, coalesce, latest or const")
        for text in [self.path, *(self.coalesce or []), *(self.latest or [])]:
            if text is not None:
                _check_path(text)
        if self.format not in (None, "iso8601", "epoch_seconds", "epoch_millis"):
            fmt = str(self.format)
            if "%" not in fmt:
                raise ValueError(
                    "format is iso8601, epoch_seconds, epoch_millis or a strftime pattern"
                )
        return self


class AccountFields(_Strict):
    external_id: FieldSpec
    username: FieldSpec | None = None
    email: FieldSpec | None = None
    display_name: FieldSpec | None = None
    active: FieldSpec | None = None
    admin: FieldSpec | None = None
    edition: FieldSpec | None = None
    created_in_app_at: FieldSpec | None = None
    last_activity_at: FieldSpec | None = None


class ActivityFields(_Strict):
    external_id: FieldSpec
    at: FieldSpec


# --------------------------------------------------------------------------- streams


class RequestSpec(_Strict):
    method: Literal["GET", "POST"] = "GET"
    path: str
    params: dict[str, str] = Field(default_factory=dict, max_length=30)
    body: dict[str, Any] | None = None

    _path = field_validator("path")(lambda v: _relative_path(v))


class AccountsStream(_Strict):
    request: RequestSpec
    records: JsonPathText
    pagination: PaginationSpec = Field(default_factory=lambda: SinglePageSpec(type="single_page"))
    errors: JsonPathText | None = None
    keep_if: list[Condition] = Field(default_factory=list, max_length=10)
    fields: AccountFields

    _records = field_validator("records", "errors")(lambda v: v if v is None else _check_path(v))

    @model_validator(mode="after")
    def _templates(self) -> AccountsStream:
        _request_templates(self.request, frozenset({"config"}))
        return self


class ActivityStream(_Strict):
    request: RequestSpec
    records: JsonPathText
    pagination: PaginationSpec = Field(default_factory=lambda: SinglePageSpec(type="single_page"))
    errors: JsonPathText | None = None
    keep_if: list[Condition] = Field(default_factory=list, max_length=10)
    fields: ActivityFields
    cursor_format: Literal["iso8601", "epoch_seconds", "epoch_millis"] = "iso8601"
    lookback_hours: int = Field(default=24, ge=0, le=24 * 30)

    _records = field_validator("records", "errors")(lambda v: v if v is None else _check_path(v))

    @model_validator(mode="after")
    def _templates(self) -> ActivityStream:
        _request_templates(self.request, frozenset({"config", "cursor"}))
        return self


class GoneSpec(_Strict):
    """When the app's answer says the account does not exist (reclaim: already gone).

    A not-found status alone is not enough: an unknown route or a proxy answers 404 too. The
    answer must be JSON and its text at `path` (anywhere in the body when not given) must
    contain `names` with the account's value in it as a whole word, not inside a path or URL
    (a router echoing `/v1/members/123` does not name member 123)."""

    status: list[int] = Field(default_factory=lambda: [404], max_length=10)  # []: never gone
    path: JsonPathText | None = None
    names: str = Field(default="{account.external_id}", min_length=1, max_length=300)

    _path = field_validator("path")(lambda v: v if v is None else _check_path(v))

    @model_validator(mode="after")
    def _names(self) -> GoneSpec:
        try:
            used = placeholders(self.names)
        except TemplateError as error:
            raise ValueError(str(error)) from None
        if not used or any(namespace != "account" for namespace, _ in used):
            raise ValueError(
                "names must contain the account, e.g. {account.external_id} (only {account.*})"
            )
        return self


class ReclaimSpec(_Strict):
    method: Literal["POST", "PUT", "PATCH", "DELETE"]
    path: str
    body: dict[str, Any] | None = None
    success: list[int] = Field(default_factory=lambda: [200, 204], min_length=1)
    # a list of statuses (the safe default matcher for them) or a `GoneSpec`
    gone: GoneSpec = Field(default_factory=GoneSpec)
    errors: JsonPathText | None = Field(
        default=None, description="errors reported inside a successful answer"
    )

    _path = field_validator("path")(lambda v: _relative_path(v))
    _errors = field_validator("errors")(lambda v: v if v is None else _check_path(v))

    @field_validator("gone", mode="before")
    @classmethod
    def _gone_statuses(cls, value: Any) -> Any:
        """`gone: [404]` (the form before matchers) is the default matcher for those statuses."""
        if isinstance(value, list):
            return {"status": value}
        return value

    # the placeholders its path and body may name
    placeholders: ClassVar[frozenset[str]] = frozenset({"config", "account"})

    @model_validator(mode="after")
    def _templates(self) -> ReclaimSpec:
        allowed = self.placeholders
        _check_template(self.path, allowed=allowed)
        for text in _strings(self.body):
            _check_template(text, allowed=allowed)
        bad = [s for s in self.success + self.gone.status if not 200 <= s <= 599]
        if bad:
            raise ValueError(f"statuses must be HTTP statuses, got {bad}")
        return self


class DowngradeSpec(ReclaimSpec):
    """Move one account to another edition (a downgrade): a request like `reclaim`'s, whose
    path and body may also name `{target.edition}`: the target software model's edition, or
    the app's own value for it where `editions` maps it (`{Standard: standard}`)."""

    placeholders: ClassVar[frozenset[str]] = frozenset({"config", "account", "target"})
    editions: dict[str, str] = Field(default_factory=dict, max_length=100)


class Streams(_Strict):
    accounts: AccountsStream
    activity: ActivityStream | None = None
    reclaim: ReclaimSpec | None = None
    downgrade: DowngradeSpec | None = None


class RateLimitSpec(_Strict):
    requests: int | None = Field(default=None, ge=1, le=1_000_000)
    per_seconds: float = Field(default=60, gt=0, le=86_400)
    headers: bool = Field(default=True, description="honour X-Rate-Limit-* budgets")


class CustomSpec(_Strict):
    """A whole custom integration spec."""

    version: Literal[1] = 1
    app: App
    auth: AuthSpec
    concurrency: int = Field(default=4, ge=1, le=50)
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    streams: Streams


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _request_templates(request: RequestSpec, allowed: frozenset[str]) -> None:
    _check_template(request.path, allowed=allowed)
    for text in [*request.params.values(), *_strings(request.body)]:
        _check_template(text, allowed=allowed)


# --------------------------------------------------------------------------- reading


class _SpecLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML's safe loader without anchors and aliases (a few hundred bytes of aliases expand
    to gigabytes: "billion laughs"), and with a nesting limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark else 0
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise SpecError(
                f"the spec uses a YAML anchor or alias ({sign}{event.anchor}, line {line}): "
                "anchors, aliases and merge keys are not "
                "allowed in a spec; write the values out"
            )
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_DEPTH:
                raise SpecError(f"the spec is nested deeper than {MAX_SPEC_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_spec_file(path: Path) -> bytes:
    """A spec file's bytes, reading no more than the limit (a huge file is refused unread)."""
    with path.open("rb") as stream:
        raw = stream.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            f"the spec file is larger than {MAX_SPEC_BYTES:,} bytes, the most a spec may be"
        )
    return raw


def parse_spec(text: str | bytes) -> CustomSpec:
    """A spec from YAML or JSON text; `SpecError` names every bad field by its path.

    At most `MAX_SPEC_BYTES`; YAML anchors and aliases are refused (not expanded)."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is {len(raw):,} bytes; at most {MAX_SPEC_BYTES:,} are allowed")
    try:
        loader = _SpecLoader(raw.decode("utf-8"))
        try:
            document = loader.get_single_data()
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise SpecError("the spec is not UTF-8 text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML or JSON"
        raise SpecError(f"the spec cannot be read{where}: {problem}") from None
    if not isinstance(document, dict):
        raise SpecError("the spec must be a mapping (an object) at the top level")
    try:
        return CustomSpec.model_validate(document)
    except ValidationError as error:
        raise SpecError(describe(error)) from None


def describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "the spec is invalid: " + "; ".join(lines[:10])


def spec_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the spec (`shelfware connectors schema custom`)."""
    schema = CustomSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shelfware custom integration spec"
    return schema


def spec_text(spec: CustomSpec) -> str:
    """The spec as compact JSON (how a profile stores it)."""
    return json.dumps(spec.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
