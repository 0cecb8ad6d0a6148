"""Patent pledges (IP finance): joint application, registration, amendment, cancellation, the
pledgee's consent to open licensing (Civil Code art. 444), and who may see what."""

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.db import transition
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.listings.models import ListingPatent
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents
from marketplace.patents.models import Patent, PatentIssue
from marketplace.pledges.errors import (
    InvalidPledgeUpdate,
    ListingNotOnPledgedPatent,
    NotPledgee,
    NotPledgor,
    PledgeNotConfirmed,
    PledgeNotFound,
    PledgeRefused,
    PledgeWrongState,
    PledgorNotFound,
    UnknownApplicationNumbers,
)
from marketplace.pledges.models import (
    ACTIVE_PLEDGE_STATUSES,
    Pledge,
    PledgeCancellation,
    PledgeChange,
    PledgeChangePublic,
    PledgeConsent,
    PledgeConsentPublic,
    PledgeCreate,
    PledgedPatent,
    PledgePatent,
    PledgeRefusal,
    PledgeStatus,
    PledgeUpdate,
    PledgeView,
    Valuation,
)

# Reason codes an admin may give when refusing; the checks below produce the same codes.
REFUSAL_CODES = frozenset(
    {
        "pledgor_not_owner",
        "patent_not_granted",
        "patent_not_in_force",
        "annual_fee_in_arrears",
        "patent_already_pledged",
        "debt_term_exceeds_patent_term",
        "exclusive_license_in_force",
        "patent_suspended",
        "invalidation_pending",
        "co_owner_consent_missing",
        "documents_incomplete",
        "other",
    }
)


# Rules -----------------------------------------------------------------------------------------


def pledge_issues(
    patent: patents.PatentFacts,
    *,
    pledgor_id: int,
    debt_end_date: date | None,
    today: date,
    pledge_id: int | None = None,
    known: patents.PatentStanding | None = None,
) -> list[PatentIssue]:
    """Every reason ``patent`` cannot be pledged by ``pledgor_id`` now (empty when it can).
    ``pledge_id`` is the pledge being registered or amended, whose own claim does not count;
    ``known`` is the patent's standing today when the caller has it already."""
    current = known or patents.standing(patent, today=today)
    found: list[PatentIssue] = []
    if patent.owner_id != pledgor_id:
        found.append(patents.issue(patent, "pledgor_not_owner", "not owned by the pledgor"))
    found.extend(patents.validity_issues(patent, today=today, known=current))
    if patent.active_pledge_id not in (None, pledge_id):
        found.append(
            patents.issue(
                patent,
                "patent_already_pledged",
                f"already under registered pledge {patent.active_pledge_id}",
            )
        )
    term_end = current.term_end
    if debt_end_date is not None and debt_end_date > term_end:
        found.append(
            patents.issue(
                patent,
                "debt_term_exceeds_patent_term",
                f"the debt runs to {debt_end_date}, past the patent's term end {term_end}",
            )
        )
    found.extend(patents.restriction_issues(patent, today=today))
    return found


def _refuse_if_any(issues: list[PatentIssue]) -> None:
    if issues:
        raise PledgeRefused(
            "; ".join(item.detail for item in issues),
            code=issues[0].code,
            reasons=[item.model_dump(exclude_none=True) for item in issues],
        )


def _record(
    session: Session,
    pledge: Pledge,
    *,
    actor: Organization,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    assert pledge.id is not None
    assert actor.id is not None
    pledge.updated_at = clock.now()
    change = PledgeChange(
        pledge_id=pledge.id,
        status=pledge.status,
        changes=changes or {},
        actor_organization_id=actor.id,
        note=note,
    )
    pledge.history.append(change)
    session.add_all([pledge, change])
    session.flush()


def _move(
    session: Session, pledge: Pledge, *, allowed: frozenset[PledgeStatus], to: PledgeStatus
) -> None:
    """A state change guarded in the database, so that two racing decisions cannot both win."""
    if not transition(
        session,
        sa.update(Pledge)
        .where(col(Pledge.id) == pledge.id)
        .where(col(Pledge.status).in_(allowed))
        .values(status=to),
    ):
        raise PledgeWrongState(
            f"Pledge {pledge.id} is {pledge.status}; this needs it to be "
            + " or ".join(sorted(allowed))
            + "."
        )
    pledge.status = to


def _announce(session: Session, pledge: Pledge, event: EventType, **details: Any) -> None:
    """Tell both parties; the pledgee watches its collateral, the pledgor its obligations."""
    events.record(
        session,
        recipients=[pledge.pledgee_id, pledge.pledgor_id],
        type=event,
        subject=f"pledge:{pledge.id}",
        payload={
            "pledge_id": pledge.id,
            "status": str(pledge.status),
            "registration_number": pledge.registration_number,
            "application_numbers": [patent.application_number for patent in pledge.patents],
            **details,
        },
    )


def notify_pledgees(
    session: Session, patents_: Sequence[Patent], event: EventType, **details: Any
) -> None:
    """Something happened to pledged patents (an open license, a license): tell each pledgee."""
    for pledge_id in active_pledge_ids(patents_):
        pledge = session.get_one(Pledge, pledge_id)
        events.record(
            session,
            recipients=[pledge.pledgee_id],
            type=event,
            subject=f"pledge:{pledge_id}",
            payload={
                "pledge_id": pledge_id,
                "application_numbers": [
                    p.application_number for p in patents_ if p.active_pledge_id == pledge_id
                ],
                **details,
            },
        )


def patent_changed(session: Session, patent: Patent, *, legal_status_before: str) -> None:
    """A pledged patent was edited: its pledgee hears of a new legal status, or else of a new
    annual-fee standing (a new legal status says more than the fee standing that follows)."""
    if patent.active_pledge_id is None:
        return
    if str(patent.legal_status) != legal_status_before:
        notify_pledgees(
            session,
            [patent],
            EventType.pledged_patent_status_changed,
            legal_status_before=legal_status_before,
            legal_status=str(patent.legal_status),
        )
        _remember_fee_status(session, patent.active_pledge_id, patent, clock.today())
    else:
        _report_fee_standing(session, patent.active_pledge_id, patent, clock.today())


def watch_fee_standing(*, session: Session, today: date) -> int:
    """The daily check: fees fall due and grace periods end with the calendar, not with an edit.
    Tells each pledgee of every pledged patent whose fee standing moved; returns how many."""
    rows = session.execute(
        select(PledgePatent, Patent)
        .join(Patent, col(Patent.id) == col(PledgePatent.patent_id))
        .join(Pledge, col(Pledge.id) == col(PledgePatent.pledge_id))
        .where(col(Pledge.status).in_(ACTIVE_PLEDGE_STATUSES))
    ).all()
    return sum(
        _report_fee_standing(session, link.pledge_id, patent, today, seen=link.fee_status_seen)
        for link, patent in rows
    )


def _report_fee_standing(
    session: Session,
    pledge_id: int,
    patent: Patent,
    today: date,
    *,
    seen: str | None = None,
) -> bool:
    if seen is None:
        seen = session.scalar(
            select(PledgePatent.fee_status_seen).where(
                PledgePatent.pledge_id == pledge_id, PledgePatent.patent_id == patent.id
            )
        )
    now = patents.fee_status(patent, today=today).value
    if now == seen:
        return False
    if seen is not None:
        notify_pledgees(
            session,
            [patent],
            EventType.pledged_patent_fee_changed,
            fee_status_before=seen,
            fee_status=now,
            fee_paid_until=patent.fee_paid_until.isoformat() if patent.fee_paid_until else None,
        )
    _remember_fee_status(session, pledge_id, patent, today)
    return seen is not None


def _remember_fee_status(session: Session, pledge_id: int, patent: Patent, today: date) -> None:
    session.execute(
        sa.update(PledgePatent)
        .where(col(PledgePatent.pledge_id) == pledge_id)
        .where(col(PledgePatent.patent_id) == patent.id)
        .values(fee_status_seen=patents.fee_status(patent, today=today).value)
        .execution_options(synchronize_session=False)
    )


# Lifecycle -------------------------------------------------------------------------------------


def _patents_by_number(session: Session, canonical_numbers: Sequence[str]) -> list[Patent]:
    canonical = list(dict.fromkeys(canonical_numbers))
    found = session.scalars(
        select(Patent).where(col(Patent.application_number).in_(canonical))
    ).all()
    by_number = {patent.application_number: patent for patent in found}
    unknown = [number for number in canonical if number not in by_number]
    if unknown:
        raise UnknownApplicationNumbers(
            "Not registered on the platform: " + ", ".join(unknown) + ".",
            application_numbers=unknown,
        )
    return [by_number[number] for number in canonical]


def apply_for_pledge(*, session: Session, pledgee: Organization, data: PledgeCreate) -> Pledge:
    """The bank's side of the joint application. Checked now, so that a pledge that could never
    be registered is refused at once; checked again at registration."""
    pledgor = session.get(Organization, data.pledgor_id)
    if pledgor is None or pledgor.id == pledgee.id or pledgor.kind == OrganizationKind.platform:
        raise PledgorNotFound(f"Organization {data.pledgor_id} cannot be a pledgor.")
    covered = _patents_by_number(session, data.application_numbers)
    today = clock.today()
    _refuse_if_any(
        [
            item
            for patent in covered
            for item in pledge_issues(
                patent, pledgor_id=pledgor.id or 0, debt_end_date=data.debt_end_date, today=today
            )
        ]
    )
    assert pledgee.id is not None
    assert pledgor.id is not None
    valuation = data.valuation
    pledge = Pledge(
        pledgee_id=pledgee.id,
        pledgor_id=pledgor.id,
        debtor_name=data.debtor_name,
        secured_amount=data.secured_amount,
        currency=data.currency,
        debt_start_date=data.debt_start_date,
        debt_end_date=data.debt_end_date,
        guarantee_scope=data.guarantee_scope,
        valuation_amount=valuation.amount if valuation else None,
        valuation_method=valuation.method if valuation else None,
        valuer=valuation.valuer if valuation else None,
        valuation_date=valuation.valuation_date if valuation else None,
        valuation_report_ref=valuation.report_ref if valuation else None,
        patents=covered,
    )
    session.add(pledge)
    session.flush()
    _record(session, pledge, actor=pledgee, note="application filed by the pledgee")
    return pledge


def confirm_pledge(*, session: Session, pledge: Pledge, pledgor: Organization) -> Pledge:
    """The pledgor joins the application."""
    if pledge.pledgor_id != pledgor.id:
        raise NotPledgor("Only the pledgor confirms a pledge application.")
    if pledge.status != PledgeStatus.applied:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not applied.")
    if pledge.pledgor_confirmed_at is None:
        pledge.pledgor_confirmed_at = clock.now()
        _record(session, pledge, actor=pledgor, note="application confirmed by the pledgor")
    return pledge


def register_pledge(*, session: Session, pledge: Pledge, admin: Organization) -> Pledge:
    """Registration (the pledge takes effect): every rule is checked again, then each patent is
    claimed by conditional update, so that of two racing registrations on a patent one fails."""
    if pledge.status != PledgeStatus.applied:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not applied.")
    if pledge.pledgor_confirmed_at is None:
        raise PledgeNotConfirmed("The pledgor has not confirmed this application yet.")
    today = clock.today()
    _refuse_if_any(
        [
            item
            for patent in pledge.patents
            for item in pledge_issues(
                patent,
                pledgor_id=pledge.pledgor_id,
                debt_end_date=pledge.debt_end_date,
                today=today,
                pledge_id=pledge.id,
            )
        ]
    )
    _move(session, pledge, allowed=frozenset({PledgeStatus.applied}), to=PledgeStatus.registered)
    for patent in pledge.patents:
        if not transition(
            session,
            sa.update(Patent)
            .where(col(Patent.id) == patent.id)
            .where(col(Patent.active_pledge_id).is_(None))
            .values(active_pledge_id=pledge.id),
        ):
            raise PledgeRefused(
                f"{patent.application_number}: pledged under another registration concurrently",
                code="patent_already_pledged",
            )
        patent.active_pledge_id = pledge.id
    assert pledge.id is not None
    for patent in pledge.patents:
        _remember_fee_status(session, pledge.id, patent, today)
    pledge.registration_number = f"ZL{today:%Y}{pledge.id:08d}"
    pledge.registered_date = today
    _record(
        session,
        pledge,
        actor=admin,
        changes={"registration_number": pledge.registration_number},
        note="registered",
    )
    _announce(session, pledge, EventType.pledge_registered)
    return pledge


def refuse_pledge(
    *, session: Session, pledge: Pledge, admin: Organization, refusal: PledgeRefusal
) -> Pledge:
    unknown = sorted(set(refusal.reasons) - REFUSAL_CODES)
    if unknown:
        raise InvalidPledgeUpdate(
            f"Unknown reason codes: {', '.join(unknown)}.", allowed=sorted(REFUSAL_CODES)
        )
    _move(session, pledge, allowed=frozenset({PledgeStatus.applied}), to=PledgeStatus.refused)
    pledge.refusal_reasons = [{"code": code} for code in refusal.reasons]
    _record(session, pledge, actor=admin, changes={"reasons": refusal.reasons}, note=refusal.note)
    return pledge


def amend_pledge(
    *, session: Session, pledge: Pledge, pledgee: Organization, changes: PledgeUpdate
) -> Pledge:
    """A change of the secured amount or the debt term; the old values stay in the history."""
    if pledge.pledgee_id != pledgee.id:
        raise NotPledgee("Only the pledgee amends a pledge.")
    values = changes.model_dump(exclude_unset=True, exclude={"note"})
    if not values or any(value is None for value in values.values()):
        raise InvalidPledgeUpdate("Give a new secured_amount, debt_start_date or debt_end_date.")
    start = values.get("debt_start_date", pledge.debt_start_date)
    end = values.get("debt_end_date", pledge.debt_end_date)
    if end < start:
        raise InvalidPledgeUpdate("debt_end_date cannot be before debt_start_date.")
    if pledge.status not in ACTIVE_PLEDGE_STATUSES:
        raise PledgeWrongState(
            f"Pledge {pledge.id} is {pledge.status}; only a registered one changes."
        )
    today = clock.today()
    _refuse_if_any(
        [
            item
            for patent in pledge.patents
            for item in pledge_issues(
                patent,
                pledgor_id=pledge.pledgor_id,
                debt_end_date=end,
                today=today,
                pledge_id=pledge.id,
            )
            if item.code == "debt_term_exceeds_patent_term"
        ]
    )
    _move(session, pledge, allowed=ACTIVE_PLEDGE_STATUSES, to=PledgeStatus.changed)
    recorded = {
        field: {"from": str(getattr(pledge, field)), "to": str(value)}
        for field, value in values.items()
        if getattr(pledge, field) != value
    }
    for field, value in values.items():
        setattr(pledge, field, value)
    _record(session, pledge, actor=pledgee, changes=recorded, note=changes.note)
    _announce(session, pledge, EventType.pledge_changed, changes=recorded)
    return pledge


def cancel_pledge(
    *,
    session: Session,
    pledge: Pledge,
    actor: Organization,
    cancellation: PledgeCancellation,
    is_admin: bool = False,
) -> Pledge:
    """Ends the pledge (debt repaid, pledge realised, waived, contract void) and frees its
    patents. An application not yet registered can be withdrawn the same way. The pledgee or a
    platform admin does it."""
    if not (is_admin or actor.id == pledge.pledgee_id):
        raise NotPledgee("Only the pledgee or a platform admin cancels a pledge.")
    _move(
        session,
        pledge,
        allowed=ACTIVE_PLEDGE_STATUSES | {PledgeStatus.applied},
        to=PledgeStatus.cancelled,
    )
    session.execute(
        sa.update(Patent)
        .where(col(Patent.active_pledge_id) == pledge.id)
        .values(active_pledge_id=None)
        .execution_options(synchronize_session=False)
    )
    for patent in pledge.patents:
        if patent.active_pledge_id == pledge.id:
            patent.active_pledge_id = None
    pledge.cancellation_reason = cancellation.reason
    pledge.cancelled_at = clock.now()
    _record(
        session,
        pledge,
        actor=actor,
        changes={"reason": str(cancellation.reason)},
        note=cancellation.note,
    )
    _announce(session, pledge, EventType.pledge_cancelled, reason=str(cancellation.reason))
    return pledge


def consent_to_listing(
    *, session: Session, pledge: Pledge, pledgee: Organization, listing_id: int
) -> PledgeConsent:
    """The pledgee agrees that the pledged patents in this listing be openly licensed."""
    if pledge.pledgee_id != pledgee.id:
        raise NotPledgee("Only the pledgee consents to licensing pledged patents.")
    if pledge.status not in ACTIVE_PLEDGE_STATUSES:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not registered.")
    covered = session.scalars(
        select(ListingPatent.patent_id).where(ListingPatent.listing_id == listing_id)
    ).all()
    if not set(covered) & {patent.id for patent in pledge.patents}:
        raise ListingNotOnPledgedPatent(
            f"Listing {listing_id} covers none of the patents of pledge {pledge.id}."
        )
    existing = next((item for item in pledge.consents if item.listing_id == listing_id), None)
    if existing is not None:
        return existing
    assert pledge.id is not None
    consent = PledgeConsent(pledge_id=pledge.id, listing_id=listing_id)
    pledge.consents.append(consent)
    session.add(consent)
    session.flush()
    _record(session, pledge, actor=pledgee, changes={"consent_listing_id": listing_id})
    return consent


# Queries used by other domains -----------------------------------------------------------------


def pledges_without_consent(
    session: Session, patents_: Sequence[Patent], listing_id: int
) -> list[Patent]:
    """The pledged patents among ``patents_`` whose pledgee has not consented to this listing."""
    pledged = {patent.active_pledge_id for patent in patents_ if patent.active_pledge_id}
    if not pledged:
        return []
    consented = set(
        session.scalars(
            select(PledgeConsent.pledge_id).where(
                col(PledgeConsent.pledge_id).in_(pledged), PledgeConsent.listing_id == listing_id
            )
        ).all()
    )
    return [
        patent
        for patent in patents_
        if patent.active_pledge_id is not None and patent.active_pledge_id not in consented
    ]


def active_pledge_ids(patents_: Sequence[Patent]) -> list[int]:
    """The registered pledges on these patents."""
    return sorted({p.active_pledge_id for p in patents_ if p.active_pledge_id is not None})


# Reading ---------------------------------------------------------------------------------------


def get_pledge(*, session: Session, pledge_id: int) -> Pledge:
    pledge = session.get(Pledge, pledge_id)
    if pledge is None:
        raise PledgeNotFound(f"Pledge {pledge_id} does not exist.")
    return pledge


def is_on_register(pledge: Pledge) -> bool:
    """Registration is public; applications and refusals concern only the parties."""
    return pledge.registration_number is not None


def sees_everything(pledge: Pledge, organization_id: int, *, is_admin: bool) -> bool:
    return is_admin or organization_id in (pledge.pledgee_id, pledge.pledgor_id)


def get_visible_pledge(
    *, session: Session, pledge_id: int, organization_id: int, is_admin: bool, is_bank: bool
) -> Pledge:
    pledge = get_pledge(session=session, pledge_id=pledge_id)
    if sees_everything(pledge, organization_id, is_admin=is_admin):
        return pledge
    if is_bank and is_on_register(pledge):
        return pledge
    raise PledgeNotFound(f"Pledge {pledge_id} does not exist.")


def list_pledges(
    *,
    session: Session,
    params: PageParams,
    organization_id: int,
    is_admin: bool,
    is_bank: bool,
    patent_id: int | None = None,
    application_number: str | None = None,
    pledgor_id: int | None = None,
    pledgee_id: int | None = None,
    status: PledgeStatus | None = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
) -> tuple[Sequence[Pledge], str | None]:
    statement = select(Pledge)
    if not is_admin:
        own = sa.or_(
            col(Pledge.pledgee_id) == organization_id, col(Pledge.pledgor_id) == organization_id
        )
        # Banks also see the public register: every registered pledge, with register fields only.
        visible = sa.or_(own, col(Pledge.registration_number).is_not(None)) if is_bank else own
        statement = statement.where(visible)
    if application_number is not None:
        statement = statement.where(
            col(Pledge.id).in_(
                select(PledgePatent.pledge_id)
                .join(Patent, col(Patent.id) == col(PledgePatent.patent_id))
                .where(Patent.application_number == application_number)
            )
        )
    if patent_id is not None:
        statement = statement.where(
            col(Pledge.id).in_(
                select(PledgePatent.pledge_id).where(PledgePatent.patent_id == patent_id)
            )
        )
    if pledgor_id is not None:
        statement = statement.where(col(Pledge.pledgor_id) == pledgor_id)
    if pledgee_id is not None:
        statement = statement.where(col(Pledge.pledgee_id) == pledgee_id)
    if status is not None:
        statement = statement.where(col(Pledge.status) == status)
    if registered_from is not None:
        statement = statement.where(col(Pledge.registered_date) >= registered_from)
    if registered_to is not None:
        statement = statement.where(col(Pledge.registered_date) <= registered_to)
    return paginate_by_id(session, statement, id_column=Pledge.id, params=params)


def to_view(pledge: Pledge, *, full: bool) -> PledgeView:
    names = _names(pledge)
    view: dict[str, Any] = {
        "visibility": "full" if full else "register",
        "id": pledge.id,
        "status": pledge.status,
        "pledgor_id": pledge.pledgor_id,
        "pledgor_name": names[pledge.pledgor_id],
        "pledgee_id": pledge.pledgee_id,
        "pledgee_name": names[pledge.pledgee_id],
        "patents": [PledgedPatent.model_validate(p, from_attributes=True) for p in pledge.patents],
        "registration_number": pledge.registration_number,
        "registered_date": pledge.registered_date,
        "cancelled_at": pledge.cancelled_at,
    }
    if full:
        view |= {
            "debtor_name": pledge.debtor_name,
            "secured_amount": pledge.secured_amount,
            "currency": pledge.currency,
            "debt_start_date": pledge.debt_start_date,
            "debt_end_date": pledge.debt_end_date,
            "guarantee_scope": pledge.guarantee_scope,
            "valuation": _valuation(pledge),
            "pledgor_confirmed_at": pledge.pledgor_confirmed_at,
            "refusal_reasons": pledge.refusal_reasons,
            "cancellation_reason": pledge.cancellation_reason,
            "history": [
                PledgeChangePublic.model_validate(change, from_attributes=True)
                for change in pledge.history
            ],
            "consents": [
                PledgeConsentPublic.model_validate(consent, from_attributes=True)
                for consent in pledge.consents
            ],
            "created_at": pledge.created_at,
        }
    return PledgeView.model_validate(view)


def _names(pledge: Pledge) -> dict[int, str]:
    return {pledge.pledgor_id: pledge.pledgor.name, pledge.pledgee_id: pledge.pledgee.name}


def _valuation(pledge: Pledge) -> Valuation | None:
    if pledge.valuation_amount is None:
        return None
    # Stored from one Valuation, so the fields are all present together.
    return Valuation.model_validate(
        {
            "amount": pledge.valuation_amount,
            "method": pledge.valuation_method,
            "valuer": pledge.valuer,
            "valuation_date": pledge.valuation_date,
            "report_ref": pledge.valuation_report_ref,
        }
    )
