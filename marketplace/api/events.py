from typing import Annotated

from fastapi import APIRouter, Query

from marketplace.accounts.deps import CurrentCaller
from marketplace.errors import Unprocessable, problem_responses
from marketplace.events import catalogue
from marketplace.events import service as events
from marketplace.events.models import EventFeed, EventPublic
from marketplace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["events"])


class CursorConflict(Unprocessable):
    default_code = "cursor_conflict"
    title = "Two different cursors"


DECLARATION_EVENT_EXAMPLE = {
    "id": 41,
    "type": "declaration.withdrawn",
    "subject": "listing:7",
    "payload": {
        "listing_id": 7,
        "title": "Lithium battery thermal management",
        "owner_id": 3,
        "application_numbers": ["202020123456.X"],
        "announcement_number": "KF2026000123",
        "announcement_date": "2026-06-12",
        "announcement_source": "office",
        "reason": "To be licensed exclusively to a strategic partner.",
        "withdrawal_announcement_number": "KFCX2026000045",
        "withdrawal_announcement_date": "2026-07-01",
    },
    "created_at": "2026-07-01T08:00:00Z",
}

SUSPENSION_EVENT_EXAMPLE = {
    "id": 57,
    "type": "declaration.suspended_by_pledge",
    "subject": "listing:7",
    "payload": {
        "pledge_id": 12,
        "registration_number": "Y2026980000123",
        "registered_date": "2026-08-03",
        "pledgee_id": 9,
        "pledgee_name": "Example Bank Shenzhen Branch",
        "listing_id": 7,
        "application_numbers": ["202020123456.X"],
    },
    "created_at": "2026-08-04T02:00:00Z",
}


@router.get(
    "/events",
    response_model=EventFeed,
    responses=problem_responses(401, 422),
    summary="The caller's organization's events, oldest first; poll with `cursor`",
    description="Each event has a `type`, a `subject` and a `payload`. Events are written with "
    "the change they describe and delivered to webhooks as they appear here. Every event type, "
    "who receives it and each field of its payload:\n\n" + catalogue.markdown(),
    openapi_extra={
        "responses": {
            "200": {
                "content": {
                    "application/json": {
                        "examples": {
                            "declaration_withdrawn": {
                                "summary": "A declaration withdrawn on the office's announcement",
                                "value": {
                                    "items": [DECLARATION_EVENT_EXAMPLE],
                                    "next_cursor": "eyJ0eCI6MCwiaWQiOjQxfQ",
                                    "limit": 50,
                                },
                            },
                            "declaration_suspended": {
                                "summary": "A pledge without the pledgee's consent suspends "
                                "acceptance of a declaration's offers",
                                "value": {
                                    "items": [SUSPENSION_EVENT_EXAMPLE],
                                    "next_cursor": "eyJ0eCI6MCwiaWQiOjU3fQ",
                                    "limit": 50,
                                },
                            },
                        }
                    }
                }
            }
        }
    },
)
def list_events(
    caller: CurrentCaller,
    session: SessionDep,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous call (as in every list)."),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=512,
            description="The same as `cursor` (its earlier name); if both are given they must "
            "be equal.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
) -> EventFeed:
    if cursor is not None and since is not None and cursor != since:
        raise CursorConflict(
            "`cursor` and `since` name the same position; give one, or the same value in both.",
            errors=[
                {
                    "field": "query.since",
                    "message": "differs from cursor",
                    "type": "value_error",
                }
            ],
        )
    since = cursor if cursor is not None else since
    found, next_cursor = events.feed(
        session=session, recipient_id=caller.organization_id, since=since, limit=limit
    )
    return EventFeed(
        items=[EventPublic.model_validate(event, from_attributes=True) for event in found],
        next_cursor=next_cursor,
        limit=limit,
    )
