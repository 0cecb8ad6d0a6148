"""Keyset (cursor) pagination: stable under inserts, cheap at any depth, capped page size.

Services page in commands and jobs that never load the web framework, so ``PageParamsDep`` (the
FastAPI dependency that reads ``limit`` and ``cursor``) is made when a router first imports it."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from marketplace.errors import Unprocessable
from marketplace.params import MAX_ID

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(Unprocessable):
    default_code = "invalid_cursor"
    title = "Invalid cursor"


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


if TYPE_CHECKING:
    # For the type checker the parameters; at run time FastAPI's dependency that reads them.
    PageParamsDep = PageParams
else:

    def __getattr__(name: str) -> Any:
        if name != "PageParamsDep":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from fastapi import Depends, Query

        # Async: pure parsing, not worth a trip to the threadpool.
        async def page_params(
            limit: Annotated[
                int, Query(ge=1, le=MAX_LIMIT, description="Page size.")
            ] = DEFAULT_LIMIT,
            cursor: Annotated[
                str | None,
                Query(max_length=512, description="`next_cursor` of the previous page."),
            ] = None,
        ) -> PageParams:
            return PageParams(limit=limit, cursor=cursor)

        dependency = Annotated[PageParams, Depends(page_params)]
        globals()[name] = dependency
        return dependency


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )
    limit: int


def page_of(
    found: tuple[Sequence[M], str | None], params: PageParams, to_public: Callable[[M], T]
) -> Page[T]:
    """The response page for what a service's list function found."""
    items, next_cursor = found
    return Page(
        items=[to_public(item) for item in items], next_cursor=next_cursor, limit=params.limit
    )


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("The cursor is not one this API issued.") from exc
    if not isinstance(position, dict):
        raise InvalidCursor("The cursor is not one this API issued.")
    return position


def paginate_by_id(
    session: Session,
    statement: sa.Select[Any],
    *,
    id_column: Any,
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Newest first by a unique integer id; returns one page of scalars and the next cursor."""
    if params.cursor is not None:
        after = decode_cursor(params.cursor).get("id")
        # Beyond the id range, a forged cursor would overflow the database's integer.
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= MAX_ID:
            raise InvalidCursor("The cursor is not one this API issued.")
        statement = statement.where(id_column < after)
    rows = session.scalars(statement.order_by(id_column.desc()).limit(params.limit + 1)).all()
    if len(rows) <= params.limit:
        return rows, None
    page = rows[: params.limit]
    return page, encode_cursor({"id": page[-1].id})
