from typing import Annotated

from fastapi import APIRouter, Query

from marketplace.accounts.deps import CurrentCaller
from marketplace.errors import problem_responses
from marketplace.events import service as events
from marketplace.events.models import LICENSE_EVENT_DOCS, EventFeed, EventPublic
from marketplace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get(
    "/events",
    response_model=EventFeed,
    responses=problem_responses(401, 422),
    summary="The caller's organization's events, oldest first; poll with `since`",
    description="Each event has a `type`, a `subject` and a `payload`. License events:\n\n"
    + "\n".join(f"* `{kind}`: {text}" for kind, text in LICENSE_EVENT_DOCS.items()),
)
def list_events(
    caller: CurrentCaller,
    session: SessionDep,
    since: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous call.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> EventFeed:
    found, next_cursor = events.feed(
        session=session, recipient_id=caller.organization_id, since=since, limit=limit
    )
    return EventFeed(
        items=[EventPublic.model_validate(event, from_attributes=True) for event in found],
        next_cursor=next_cursor,
        limit=limit,
    )
