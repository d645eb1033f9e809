"""Every API error as an RFC 9457 problem (``application/problem+json``), from one place.

The HTTP status of a tgfleet error is chosen here and nowhere else: routes raise the classes of
``tgfleet.errors`` and these handlers answer. The detail is the error's own message, which the
layers below write for an operator (it names the field, the account, the setting) and never
fill with a secret; an unexpected exception is logged and answered with a bare 500 whose
detail says nothing about its cause.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tgfleet import errors

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://tgfleet.dev/problems/"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    slug: str
    title: str


# Most specific first: the first class an error is an instance of decides.
_KINDS: tuple[tuple[type[Exception], ProblemKind], ...] = (
    (errors.InvalidInput, ProblemKind(422, "invalid-input", "Invalid input")),
    (errors.ConfigError, ProblemKind(422, "invalid-input", "Invalid input")),
    (errors.AccountNotFound, ProblemKind(404, "account-not-found", "Account not found")),
    (errors.AccountExists, ProblemKind(409, "account-exists", "Account already exists")),
    (errors.Conflict, ProblemKind(409, "conflict", "Conflict")),
    (errors.FloodWait, ProblemKind(429, "flood-wait", "Telegram asks to wait")),
    (errors.PoolTimeout, ProblemKind(503, "pool-timeout", "No connection free in time")),
    (errors.PoolClosed, ProblemKind(503, "pool-closed", "The pool is shutting down")),
    (errors.NotAuthenticated, ProblemKind(401, "not-authenticated", "Sign-in required")),
    (errors.PermissionDenied, ProblemKind(403, "permission-denied", "Not allowed")),
    (errors.TooManyAttempts, ProblemKind(429, "too-many-attempts", "Too many sign-in attempts")),
    (errors.AuthorizationNotFound, ProblemKind(404, "no-such-authorization", "No authorization")),
    (errors.TokenNotFound, ProblemKind(404, "no-such-token", "No API token")),
    (errors.AccountDisabled, ProblemKind(409, "account-disabled", "The account takes no work")),
    (
        errors.NoAuthorizationAvailable,
        ProblemKind(409, "no-authorization", "No authorization free"),
    ),
    (errors.ConnectFailed, ProblemKind(502, "connect-failed", "Cannot reach Telegram")),
    (errors.ProxyError, ProblemKind(502, "proxy-error", "The account's proxy failed")),
)

_INTERNAL = ProblemKind(500, "internal-error", "Internal server error")
# Retry-After for a pool timeout: long enough for a borrower to give a connection back.
POOL_TIMEOUT_RETRY_AFTER = 1


def kind_of(exc: Exception) -> ProblemKind | None:
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return None


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _retry_after(exc: Exception) -> dict[str, str]:
    if isinstance(exc, errors.FloodWait):
        return {"Retry-After": str(max(1, exc.seconds))}
    if isinstance(exc, errors.PoolTimeout):
        return {"Retry-After": str(POOL_TIMEOUT_RETRY_AFTER)}
    if isinstance(exc, errors.TooManyAttempts):
        return {"Retry-After": seconds_header(exc.retry_after)}
    if isinstance(exc, errors.PoolClosed):
        return {"Retry-After": "5"}
    if isinstance(exc, errors.NotAuthenticated):
        return {"WWW-Authenticate": 'Bearer realm="tgfleet"'}
    return {}


def _telegram_status(exc: errors.TelegramError) -> int:
    # Telegram's own 4xx is the caller's to fix (PHONE_CODE_INVALID, USERNAME_NOT_OCCUPIED); a
    # 401 means the account's authorization is dead, a state to fix rather than the caller's
    # sign-in; anything else means Telegram or the path to it failed: a bad gateway here.
    if exc.code == 401:
        return 409
    if 400 <= exc.code < 500:
        return exc.code
    return 502


def _telegram_error(request: Request, exc: errors.TelegramError) -> JSONResponse:
    return problem(
        _telegram_status(exc),
        "telegram-error",
        "Telegram refused the request",
        str(exc) or "Telegram refused the request",
        instance=request.url.path,
        telegram_error=exc.name or type(exc).__name__,
    )


async def _tgfleet_error(request: Request, exc: Exception) -> JSONResponse:
    kind = kind_of(exc)
    if kind is None:
        if isinstance(exc, errors.TelegramError):
            return _telegram_error(request, exc)
        return await _unexpected(request, exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.FloodWait):
        extra["retry_after"] = max(1, exc.seconds)
    return problem(
        kind.status,
        kind.slug,
        kind.title,
        str(exc) or kind.title,
        headers=_retry_after(exc),
        instance=request.url.path,
        **extra,
    )


def problem_fields(exc: Exception) -> dict[str, Any]:
    """The problem body ``exc`` would be answered with, for answers that carry several
    outcomes (a bulk send reports each account's failure inside one 200)."""
    kind = kind_of(exc)
    body: dict[str, Any]
    if kind is not None:
        body = {"type": TYPE_BASE + kind.slug, "title": kind.title, "status": kind.status}
        body["detail"] = str(exc) or kind.title
    elif isinstance(exc, errors.TelegramError):
        body = {
            "type": TYPE_BASE + "telegram-error",
            "title": "Telegram refused the request",
            "status": _telegram_status(exc),
            "detail": str(exc) or "Telegram refused the request",
        }
    else:
        # the cause stays in the server's log, as for a 500 answered on its own
        body = {
            "type": TYPE_BASE + _INTERNAL.slug,
            "title": _INTERNAL.title,
            "status": _INTERNAL.status,
            "detail": "an unexpected error happened; it is logged on the server",
        }
    if isinstance(exc, errors.TelegramError):
        body["telegram_error"] = exc.name or type(exc).__name__
    if isinstance(exc, errors.FloodWait):
        body["retry_after"] = max(1, exc.seconds)
    elif isinstance(exc, errors.PoolTimeout):
        body["retry_after"] = POOL_TIMEOUT_RETRY_AFTER
    return body


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "password") -> "password"; ("query", "limit") -> "limit"
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # the input itself is never echoed: it may be a password or a token
    invalid = [
        {"field": _field_of(error.get("loc", ())), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in invalid)
    return problem(
        422,
        "invalid-input",
        "Invalid input",
        detail or "the request is malformed",
        instance=request.url.path,
        errors=invalid,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    slug = title.lower().replace(" ", "-")
    return problem(
        exc.status_code,
        slug,
        title,
        detail,
        headers=exc.headers,
        instance=request.url.path,
    )


_HTTP_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # logged with its traceback (the log's secret mask applies); the client learns nothing
    log.error(
        "unexpected error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return problem(
        500,
        _INTERNAL.slug,
        _INTERNAL.title,
        "an unexpected error happened; it is logged on the server",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(errors.TgfleetError, _tgfleet_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_problems(app)


# The problem body as the handlers above write it; the schema lets clients (and schemathesis)
# hold every error answer to it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": TYPE_BASE + "<slug>, one per kind of error"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {
            "type": "array",
            "description": "invalid-input only: each invalid field and why",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retry_after": {"type": "integer", "description": "flood-wait only: seconds to wait"},
        "telegram_error": {"type": "string", "description": "Telegram's error name"},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _document_problems(app: FastAPI) -> None:
    """Make /openapi.json tell the truth about errors.

    FastAPI documents a 422 as ``application/json`` ``HTTPValidationError`` and nothing else,
    but every error here is answered by the handlers above as ``application/problem+json``
    with any status a route may raise (401, 404, 409, 429, 503...). So each operation gets
    its 422 replaced and a ``default`` response: a problem, whatever the status.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        problem_content = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "Invalid input", "content": problem_content}
                responses["default"] = {
                    "description": "An error, as a problem (RFC 9457)",
                    "content": problem_content,
                }
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Problem"] = PROBLEM_SCHEMA
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def seconds_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
