from typing import Annotated

from fastapi import APIRouter, Query

from marketplace.accounts.deps import CurrentCaller
from marketplace.errors import Unprocessable, problem_responses
from marketplace.events import service as events
from marketplace.events.models import LICENSE_EVENT_DOCS, EventFeed, EventPublic
from marketplace.pagination import DEFAULT_LIMIT, MAX_LIMIT
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["events"])


class CursorConflict(Unprocessable):
    default_code = "cursor_conflict"
    title = "Two different cursors"


# Each declaration event's payload carries the declaration's identity; the rest is per type.
DECLARATION_EVENTS = """
### Open-license declarations

Subject `listing:{id}`. Every payload has `listing_id`, `title`, `owner_id`,
`application_numbers`, `announcement_number`, `announcement_date` and `announcement_source`
(`office`, or `platform_assigned` for numbers the platform minted before it stopped doing so).

- `declaration.published`, to the patentee: also `fee_reductions`, per patent its `percent`,
  `basis` (`open_license` or `patent_fee_reduction`) and `reason`.
- `declaration.withdrawal_requested`, to the patentee, the holders of licenses under it and the
  pledgees of its patents: also `reason`, `requested_at` and `co_owner_consents` (`name`,
  `consented_on`, `document_ref`). The declaration stands, and its offers can be accepted, until
  the office announces the withdrawal.
- `declaration.withdrawn`, to the same: also `reason`, `withdrawal_announcement_number` and
  `withdrawal_announcement_date`. Licenses already granted stand.
- `declaration.lapsed`, to the same: also `lapse_reason` (a covered patent left force: its term
  ended, its annual fee went unpaid, it was invalidated).
"""

LICENSE_EVENTS = (
    "\n### Licenses\n\n"
    "Subject `license:{id}`. Every payload has `license_id` and `license_number`.\n\n"
    + "\n".join(f"- `{kind}`: {text}" for kind, text in LICENSE_EVENT_DOCS.items())
)

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


@router.get(
    "/events",
    response_model=EventFeed,
    responses=problem_responses(401, 422),
    summary="The caller's organization's events, oldest first; poll with `cursor`",
    description="Each event has a `type`, a `subject` and a `payload`. Events are written with "
    "the change they describe and delivered to webhooks as they appear here.\n"
    + DECLARATION_EVENTS
    + LICENSE_EVENTS,
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
                            }
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
