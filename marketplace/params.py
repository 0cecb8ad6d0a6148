"""Request parameters shared by every domain's routes.

Services use ``MAX_ID`` in commands and jobs that never load the web framework, so ``ObjectId``
(a FastAPI path parameter) is made when a router first imports it."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, AwareDatetime

# Ids are 32-bit serials: anything larger cannot exist, and would overflow the database's integer.
MAX_ID = 2**31 - 1

if TYPE_CHECKING:
    # For the type checker an int; at run time an int with FastAPI's path constraints.
    ObjectId = int
else:

    def __getattr__(name: str) -> Any:
        if name != "ObjectId":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from fastapi import Path

        object_id = Annotated[int, Path(ge=1, le=MAX_ID, description="Object id.", examples=[1])]
        globals()[name] = object_id
        return object_id


def _within_the_calendar(moment: datetime) -> datetime:
    """A moment whose offset would carry it past the calendar's ends in UTC (9999-12-31T23:59
    at -14:00) names no instant the database can compare with."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the moment lies outside years 1 to 9999 in UTC") from None


# A time with its offset, held in UTC.
Moment = Annotated[AwareDatetime, AfterValidator(_within_the_calendar)]
