"""One error body for every refusal: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelfware.accounts.service import AccountError
from shelfware.connectors.base import ConnectorError
from shelfware.directory.service import DirectoryError, NotADomain
from shelfware.kit.csv_input import CsvInputError
from shelfware.licensing.entitlements import LicensingError, LicensingInvalid
from shelfware.profiles.oauth import AuthorizationError
from shelfware.profiles.service import ProfileError, ProfileNotFound
from shelfware.reclamation.service import CapExceeded, ReclaimError
from shelfware.reclamation.states import StateError
from shelfware.store import (
    BUSY_ERRORS,
    DATABASE_ERRORS,
    RETRY_AFTER_SECONDS,
    VALUE_ERRORS,
    database_busy,
    database_error,
)
from shelfware.sync.service import SyncError

log = logging.getLogger("shelfware.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal",
    503: "unavailable",
}

# Refusals a service raises with a message meant for the user.
REFUSALS: tuple[type[Exception], ...] = (
    AccountError,
    AuthorizationError,
    ConnectorError,
    DirectoryError,
    LicensingError,
    ProfileError,
    ReclaimError,
    StateError,
    SyncError,
)

# A refusal that is also a LookupError names a record that does not exist (404); any other
# is a conflict with the stored state (409): an illegal candidate transition, an alias
# already taken... A reclaim over the blast-radius cap (name fewer, or force with a reason),
# a file, domain or edit that is not acceptable are the request's fault, not the stored
# state's (422).
INVALID: tuple[type[Exception], ...] = (CapExceeded, CsvInputError, LicensingInvalid, NotADomain)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": CODES[status]}
    for status in (400, 401, 403, 404, 409, 413, 422, 503)
}


class ApiError(Exception):
    """Raised by a router: becomes the error body with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def error_response(
    status: int,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    detail = ErrorDetail(code=CODES.get(status, "error"), message=message, field=field)
    return JSONResponse(
        ErrorBody(error=detail).model_dump(exclude_none=True),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def _location(loc: tuple[int | str, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation(errors: list[dict[str, object]]) -> JSONResponse:
    """The first problem, named by its field; the input is never echoed (it may be a secret)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = first.get("loc", ())
    field = _location(tuple(loc) if isinstance(loc, (list, tuple)) else ())
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return error_response(422, f"{field}: {message}" if field else message, field=field)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, field=exc.field, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return error_response(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def service_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return _validation(list(exc.errors()))  # type: ignore[arg-type]

    @app.exception_handler(LookupError)
    async def not_found(_: Request, exc: LookupError) -> JSONResponse:
        return error_response(404, _text(exc))

    @app.exception_handler(ProfileNotFound)
    async def profile_not_found(_: Request, exc: ProfileNotFound) -> JSONResponse:
        return error_response(404, _text(exc))

    for refusal in REFUSALS:
        app.add_exception_handler(refusal, _refused)
    for invalid in INVALID:
        app.add_exception_handler(invalid, _invalid)
    app.add_exception_handler(ValueError, _invalid)
    for database in DATABASE_ERRORS:
        app.add_exception_handler(database, _database)
    for refused_value in VALUE_ERRORS:  # more specific than DATABASE_ERRORS: found first
        app.add_exception_handler(refused_value, _value_refused)
    for busy in BUSY_ERRORS:
        app.add_exception_handler(busy, _busy)
    app.add_exception_handler(Exception, _unexpected)


def install_outer(app: FastAPI, prefix: str) -> None:
    """On the app the API is mounted in: a request under ``prefix`` that the mount could not
    take (e.g. a path with an encoded newline) still gets the API's error body."""
    from fastapi.exception_handlers import http_exception_handler

    @app.exception_handler(StarletteHTTPException)
    async def outer_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(prefix):
            message = exc.detail if isinstance(exc.detail, str) else "request refused"
            return error_response(exc.status_code, message, headers=exc.headers)
        return await http_exception_handler(request, exc)


def _text(exc: BaseException) -> str:
    """The exception's message on one line (a KeyError's repr quotes are dropped)."""
    text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
    return " ".join(text.split()) or type(exc).__name__


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    text = _text(exc)
    return error_response(404 if isinstance(exc, LookupError) else 409, text)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, _text(exc))


BUSY_MESSAGE = "the server is busy: retry shortly"


def busy_response(
    message: str = BUSY_MESSAGE, retry_after: int = RETRY_AFTER_SECONDS
) -> JSONResponse:
    """503 + ``Retry-After``: the request was not served (nothing changed), try again."""
    return error_response(503, message, headers={"Retry-After": str(retry_after)})


async def _busy(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database busy, request shed: %s", database_error(exc))
    return busy_response()


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if database_busy(exc):
        return await _busy(request, exc)
    return error_response(409, f"database: {database_error(exc)}")


async def _value_refused(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, f"a value the database cannot take: {database_error(exc)}")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if database_busy(exc):  # raised in a middleware (the token's look-up)
        return await _busy(request, exc)
    log.exception("unexpected error in an API request")
    return error_response(500, "internal error (logged on the server)")
