from typing import Annotated

from fastapi import APIRouter, Depends, Query

from marketplace.accounts.caller import Caller
from marketplace.accounts.deps import CurrentCaller
from marketplace.accounts.errors import NotOrganizationAdmin
from marketplace.accounts.models import UserRole
from marketplace.audit import service as audit
from marketplace.audit.models import AuditEventPublic, AuditHead
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep
from marketplace.params import MAX_ID, Moment
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["audit"])


def _audit_reader(caller: CurrentCaller) -> Caller:
    """Platform admins, an organization's admins and its API clients read the trail; the
    entries name colleagues, so ordinary members do not."""
    member = caller.user is not None and caller.user.role != UserRole.admin
    if member and not caller.is_platform_admin:
        raise NotOrganizationAdmin("Only an administrator of your organization may do this.")
    return caller


AuditReader = Annotated[Caller, Depends(_audit_reader)]


@router.get(
    "/audit-events",
    response_model=Page[AuditEventPublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="The audit trail: state changes of the objects the caller is party to",
    description="Newest first. Platform admins see every entry; an organization sees the "
    "entries of objects it is party to (a listing's owner, a license's licensor and licensee, "
    "a pledge's pledgee and pledgor). Asking for one object (`object_type` and `object_id`) "
    "without an entry the caller may see is a 404. Each entry carries its chain hash; "
    "`marketplace audit verify` checks the whole chain.",
)
def list_audit_events(
    caller: AuditReader,
    session: SessionDep,
    page: PageParamsDep,
    object_type: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z_]{1,64}$",
            description="The object's table: `organization`, `user_account`, `listing`, "
            "`offer`, `license`, `pledge`, `pledge_change`.",
            examples=["license"],
        ),
    ] = None,
    object_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="`created`, `updated`, `deleted`, or a state such as `terminated`.",
        ),
    ] = None,
    since: Annotated[Moment | None, Query(description="Entries at or after this time.")] = None,
    until: Annotated[Moment | None, Query(description="Entries before this time.")] = None,
) -> Page[AuditEventPublic]:
    items, next_cursor = audit.list_events(
        session=session,
        filters=audit.AuditFilter(
            object_type=object_type, object_id=object_id, action=action, since=since, until=until
        ),
        params=page,
        party_id=None if caller.is_platform_admin else caller.organization_id,
    )
    return Page(items=items, next_cursor=next_cursor, limit=page.limit)


@router.get(
    "/audit-events/head",
    response_model=AuditHead,
    responses=problem_responses(401, 403),
    summary="The newest entry's id and hash, to note down as an anchor",
    description="Whoever notes the head can later show that nothing up to it was changed: "
    "every entry's hash covers the one before it.",
)
def audit_head(_caller: AuditReader, session: SessionDep) -> AuditHead:
    head_id, head_hash = audit.head(session=session)
    return AuditHead(id=head_id, hash=head_hash)
