"""Every error leaves the API as RFC 9457 problem+json with a stable machine-readable ``code``.

Services raise these errors in commands and jobs too, so the web framework is imported only
by the functions that render a response (a command never loads it)."""

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:marketplace:problem:"


class MarketplaceError(Exception):
    """Base of every refusal a service can make. Subclasses fix the status, code and title."""

    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # When true the transaction is committed before the error is returned (see db.transaction).
    keeps_changes: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        self.detail = detail or self.title
        self.code = code or self.default_code
        self.extra = extra
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(MarketplaceError):
    pass


class Unauthorized(MarketplaceError):
    status_code = 401
    default_code = "not_authenticated"
    title = "Not authenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(MarketplaceError):
    status_code = 403
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(MarketplaceError):
    status_code = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(MarketplaceError):
    status_code = 409
    default_code = "conflict"
    title = "Conflict with the current state"


class Unprocessable(MarketplaceError):
    status_code = 422
    default_code = "unprocessable"
    title = "Unprocessable request"


class TooManyRequests(MarketplaceError):
    status_code = 429
    default_code = "too_many_requests"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any):
        super().__init__(detail, **extra)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class FieldError(BaseModel):
    field: str = Field(examples=["body.application_number"])
    message: str = Field(examples=["check character of 202110123456.8 is '8'; expected '7'"])
    type: str = Field(examples=["value_error"])


class Problem(BaseModel):
    """RFC 9457 problem details, extended with a stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:marketplace:problem:listing_not_published"])
    title: str = Field(examples=["Listing is not published"])
    status: int = Field(examples=[409])
    detail: str = Field(
        examples=["Listing 12 is withdrawn; offers of it can no longer be accepted"]
    )
    code: str = Field(examples=["listing_not_published"])
    instance: str | None = Field(default=None, examples=["/api/v1/offers/31/accept"])
    errors: list[FieldError] | None = None


_STATUS_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, expired or revoked token",
    403: "The caller may not do this",
    404: "No such object, or not visible to the caller",
    409: "The object's state does not allow this",
    422: "Invalid input",
    429: "Too many attempts",
}


def _example(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }


# One real example per status family, as the handlers below render them.
PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    400: _example(
        400,
        "bad_request",
        "Bad request",
        "The request could not be read.",
        "/api/v1/patents",
    ),
    401: _example(
        401,
        "not_authenticated",
        "Not authenticated",
        "A bearer token is required.",
        "/api/v1/patents",
    ),
    403: _example(
        403,
        "insufficient_scope",
        "Token lacks the required scope",
        "This needs the 'listings' scope.",
        "/api/v1/listings",
        required_scope="listings",
    ),
    404: _example(
        404,
        "listing_not_found",
        "Listing not found",
        "Listing 12 does not exist.",
        "/api/v1/listings/12",
    ),
    409: _example(
        409,
        "listing_not_published",
        "Listing is not published",
        "Listing 12 is withdrawn, not published.",
        "/api/v1/offers/31/accept",
    ),
    413: _example(
        413,
        "request_body_too_large",
        "Request body too large",
        "This route accepts a request body of at most 1048576 bytes.",
        "/api/v1/listings/bulk",
        max_bytes=1048576,
    ),
    422: _example(
        422,
        "validation_failed",
        "Invalid input",
        "body.application_number: check character of 202110123456.8 is '8'; expected '7'",
        "/api/v1/patents",
        errors=[
            {
                "field": "body.application_number",
                "message": "check character of 202110123456.8 is '8'; expected '7'",
                "type": "value_error",
            }
        ],
    ),
    429: _example(
        429,
        "too_many_attempts",
        "Too many sign-in attempts",
        "Too many attempts; retry in 30 s.",
        "/api/v1/auth/token",
    ),
    503: _example(
        503,
        "database_busy",
        "Service temporarily unavailable",
        "The database is busy or unreachable; retry shortly.",
        "/api/v1/encumbrances/check",
    ),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses: the ``Problem`` schema under
    ``application/problem+json`` (where FastAPI puts a response model's schema under
    ``application/json``, ``marketplace.openapi`` moves it), with an example."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        content: dict[str, Any] = {}
        if status in PROBLEM_EXAMPLES:
            example = PROBLEM_EXAMPLES[status]
            content["examples"] = {example["code"]: {"value": example}}
        responses[status] = {
            "model": Problem,
            "description": _STATUS_DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: content},
        }
    return responses


def problem_response(
    *,
    request: "Request",
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> "JSONResponse":
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def field_errors(
    errors: Iterable[Any], *, prefix: tuple[str, ...] = (), empty_field: str = ""
) -> list[dict[str, str]]:
    """Pydantic's errors as the field errors of a problem body: the one converter, used by the
    request handler, services that re-validate merged input, and the import's row errors.

    ``prefix`` places a model's errors where a request's would be (``("body",)``);
    ``empty_field`` names an error that has no location (a whole-row check)."""
    return [
        {
            "field": ".".join([*prefix, *(str(part) for part in error.get("loc", ()))])
            or empty_field,
            "message": str(error.get("msg", "")).removeprefix("Value error, "),
            "type": str(error.get("type", "value_error")),
        }
        for error in errors
    ]


def summary(errors: Iterable[dict[str, str]]) -> str:
    """One line naming every field error, for a problem's ``detail``."""
    return "; ".join(f"{error['field']}: {error['message']}" for error in errors)


async def _marketplace_error(request: "Request", exc: Exception) -> "JSONResponse":
    assert isinstance(exc, MarketplaceError)
    return problem_response(
        request=request,
        status=exc.status_code,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers(),
        **exc.extra,
    )


async def _validation_error(request: "Request", exc: Exception) -> "JSONResponse":
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    first = errors[0] if errors else None
    detail = f"{first['field']}: {first['message']}" if first else "Invalid input"
    return problem_response(
        request=request,
        status=422,
        code="validation_failed",
        title="Invalid input",
        detail=detail,
        errors=errors,
    )


async def _http_error(request: "Request", exc: Exception) -> "JSONResponse":
    from starlette.exceptions import HTTPException as StarletteHTTPException

    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    return problem_response(
        request=request,
        status=exc.status_code,
        code=code,
        title=str(exc.detail) if exc.status_code != 404 else "Not found",
        detail=str(exc.detail),
        headers=dict(exc.headers or {}),
    )


async def _integrity_error(request: "Request", exc: Exception) -> "JSONResponse":
    # A constraint caught a race that the service's own checks could not see.
    logger.info("integrity error on %s: %s", request.url.path, exc)
    return problem_response(
        request=request,
        status=409,
        code="conflict",
        title="Conflict with the current state",
        detail="The request conflicts with a concurrent change; retry it.",
    )


async def _data_error(request: "Request", exc: Exception) -> "JSONResponse":
    logger.info("data error on %s: %s", request.url.path, exc)
    return problem_response(
        request=request,
        status=422,
        code="invalid_value",
        title="Invalid input",
        detail="A value is out of the range the database accepts.",
    )


async def _operational_error(request: "Request", exc: Exception) -> "JSONResponse":
    logger.warning("database unavailable on %s: %s", request.url.path, exc)
    return problem_response(
        request=request,
        status=503,
        code="database_busy",
        title="Service temporarily unavailable",
        detail="The database is busy or unreachable; retry shortly.",
        headers={"Retry-After": "1"},
    )


async def _unexpected_error(request: "Request", exc: Exception) -> "JSONResponse":
    logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem_response(
        request=request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred; it has been logged.",
    )


def install_error_handlers(app: "FastAPI") -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(MarketplaceError, _marketplace_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.IntegrityError, _integrity_error)
    app.add_exception_handler(sa_exc.DataError, _data_error)
    app.add_exception_handler(sa_exc.OperationalError, _operational_error)
    # No pooled connection came free in time: the database is overloaded, not the request wrong.
    app.add_exception_handler(sa_exc.TimeoutError, _operational_error)
    app.add_exception_handler(Exception, _unexpected_error)
