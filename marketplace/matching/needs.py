"""SME profiles and technology needs.

Who sees what: an enterprise keeps one profile and posts needs, and sees its own needs in full.
Verified universities and research institutes read open needs as demand, without the SME's
budget and sales figures. Another enterprise never learns that a need exists (404); banks,
platform admins and unverified licensors are refused (403).

The listings ranked for a need are in ``need_matching``; the demand a listing meets, in
``demand``."""

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.errors import OrganizationNotVerified
from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.matching.errors import (
    NeedClosed,
    NeedNotFound,
    NeedsNotVisible,
    NotAnEnterprise,
    ProfileNotFound,
)
from marketplace.matching.models import (
    NeedCreate,
    NeedPublic,
    NeedStatus,
    SavedSearch,
    SmeProfile,
    SmeProfilePublic,
    SmeProfileUpdate,
    TechnologyNeed,
)
from marketplace.pagination import InvalidCursor, decode_cursor, encode_cursor
from marketplace.params import MAX_ID

READERS = frozenset({OrganizationKind.university, OrganizationKind.research_institute})


# Profiles --------------------------------------------------------------------------------------


def _require_enterprise(organization: Organization) -> None:
    if organization.kind != OrganizationKind.enterprise:
        raise NotAnEnterprise("Only enterprises keep SME profiles and post technology needs.")


def find_profile(*, session: Session, organization_id: int) -> SmeProfile | None:
    return session.get(SmeProfile, organization_id)


def get_profile(*, session: Session, organization: Organization) -> SmeProfile:
    """The caller's profile; 404 until the first PUT (there is no meaningful default budget)."""
    _require_enterprise(organization)
    assert organization.id is not None
    profile = find_profile(session=session, organization_id=organization.id)
    if profile is None:
        raise ProfileNotFound("Your organization has no SME profile yet; PUT one first.")
    return profile


def put_profile(
    *, session: Session, organization: Organization, data: SmeProfileUpdate
) -> SmeProfile:
    """Create or replace the caller's profile."""
    _require_enterprise(organization)
    assert organization.id is not None
    profile = find_profile(session=session, organization_id=organization.id)
    if profile is None:
        profile = SmeProfile(organization_id=organization.id)
    for name, value in data.model_dump().items():
        setattr(profile, name, list(dict.fromkeys(value)) if name == "ipc_interests" else value)
    profile.updated_at = clock.timestamp()
    session.add(profile)
    session.flush()
    return profile


def profile_public(profile: SmeProfile) -> SmeProfilePublic:
    return SmeProfilePublic.model_validate(profile.model_dump())


# Needs -----------------------------------------------------------------------------------------


def create_need(
    *, session: Session, organization: Organization, data: NeedCreate
) -> TechnologyNeed:
    _require_enterprise(organization)
    assert organization.id is not None
    values = data.model_dump()
    values["ipc_codes"] = list(dict.fromkeys(values["ipc_codes"]))
    need = TechnologyNeed(organization_id=organization.id, **values)
    session.add(need)
    session.flush()
    return need


def _check_reader(organization: Organization) -> None:
    if organization.kind == OrganizationKind.enterprise:
        return
    if organization.kind not in READERS:
        raise NeedsNotVisible("Only enterprises and verified licensors see technology needs.")
    if organization.verification != Verification.verified:
        raise OrganizationNotVerified(
            "Your organization must be verified before it can see technology needs."
        )


def _readable(need: TechnologyNeed, organization: Organization) -> bool:
    if need.organization_id == organization.id:
        return True
    return organization.kind in READERS and need.status == NeedStatus.open


def readable_open_needs(reader: Organization) -> sa.ColumnElement[bool] | None:
    """The open needs ``reader`` may see, as a condition: every open need for a verified
    university or institute, an enterprise's own, none for anyone else (an unverified licensor,
    a bank). ``None``: no need at all. Whatever shows needs elsewhere (the demand view) shows
    exactly what ``get_need`` would."""
    is_open = col(TechnologyNeed.status) == NeedStatus.open
    if reader.kind == OrganizationKind.enterprise:
        return sa.and_(is_open, col(TechnologyNeed.organization_id) == reader.id)
    if reader.kind in READERS and reader.verification == Verification.verified:
        return is_open
    return None


def get_need(*, session: Session, need_id: int, reader: Organization) -> TechnologyNeed:
    _check_reader(reader)
    need = session.get(TechnologyNeed, need_id)
    if need is None or not _readable(need, reader):
        raise NeedNotFound(f"Technology need {need_id} does not exist.")
    return need


def get_own_need(*, session: Session, need_id: int, owner: Organization) -> TechnologyNeed:
    need = get_need(session=session, need_id=need_id, reader=owner)
    if need.organization_id != owner.id:
        # A licensor reading demand may see the need, but not rank listings for it.
        raise NeedNotFound(f"Technology need {need_id} does not exist.")
    return need


def list_needs(
    *, session: Session, reader: Organization, limit: int, cursor: str | None
) -> tuple[list[TechnologyNeed], str | None]:
    """An enterprise's own needs (every status), or for a verified licensor every open need;
    newest first, keyset pages on the id."""
    _check_reader(reader)
    statement = select(TechnologyNeed)
    if reader.kind == OrganizationKind.enterprise:
        statement = statement.where(TechnologyNeed.organization_id == reader.id)
    else:
        statement = statement.where(TechnologyNeed.status == NeedStatus.open)
    if cursor is not None:
        after = decode_cursor(cursor).get("id")
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= MAX_ID:
            raise InvalidCursor("The cursor is not one this API issued.")
        statement = statement.where(col(TechnologyNeed.id) < after)
    rows = list(session.scalars(statement.order_by(col(TechnologyNeed.id).desc()).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor({"id": page[-1].id}) if len(rows) > limit else None
    return page, next_cursor


def close_need(*, session: Session, need: TechnologyNeed) -> TechnologyNeed:
    """An open need stops being demand; closing twice is a conflict."""
    if need.status != NeedStatus.open:
        raise NeedClosed(f"Technology need {need.id} is already closed.")
    need.status = NeedStatus.closed
    need.closed_at = clock.timestamp()
    session.add(need)
    # Its saved searches stop alerting with it.
    session.execute(
        sa.update(SavedSearch)
        .where(col(SavedSearch.need_id) == need.id)
        .values(active=False)
        .execution_options(synchronize_session="evaluate")
    )
    session.flush()
    return need


def need_public(need: TechnologyNeed, *, reader_id: int) -> NeedPublic:
    values = need.model_dump()
    if need.organization_id != reader_id:
        values.update(budget_max=None, expected_annual_sales=None, expected_annual_units=None)
    return NeedPublic.model_validate(values)
