"""A pledge's life (Patent pledge registration measures): the joint application, the pledgor's
confirmation, registration by the office, refusal, amendment and cancellation, each change kept in
the pledge's history. Recording the office's registration is a workflow
(``marketplace.workflows.pledges``): it claims the patents and starts the pledgee's watch over
them. The platform is not the office: it records the registration number and date the office
issued, never one of its own."""

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.patents.models import Patent
from marketplace.pledges import declarations
from marketplace.pledges.errors import (
    InvalidPledgeUpdate,
    InvalidRegistrationNumber,
    NotPledgee,
    NotPledgor,
    PledgeNotConfirmed,
    PledgeRefused,
    PledgeWrongState,
    PledgorNotFound,
    RegistrationDateOutOfRange,
    RegistrationNumberInUse,
    UnknownApplicationNumbers,
    UnknownCoOwner,
)
from marketplace.pledges.models import (
    ACTIVE_PLEDGE_STATUSES,
    CoOwnerConsent,
    Pledge,
    PledgeCancellation,
    PledgeChange,
    PledgeConfirmation,
    PledgeCreate,
    PledgeRefusal,
    PledgeRegistrationCreate,
    PledgeStatus,
    PledgeUpdate,
)
from marketplace.pledges.rules import REFUSAL_CODES, co_owner_names, issues_of, refuse_if_any


def record_change(
    session: Session,
    pledge: Pledge,
    *,
    actor: Organization,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """An entry in the pledge's history: its status after the change, what changed, and who."""
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


def announce(session: Session, pledge: Pledge, event: EventType, **details: Any) -> None:
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
    consents = _co_owner_consents(covered, data.co_owner_consents)
    today = clock.today()
    # The pledgor's confirmation that it proceeds despite a pending invalidation comes when it
    # joins; the pledgee's is enough to file.
    refuse_if_any(
        issues_of(
            covered,
            pledgor_id=pledgor.id or 0,
            debt_end_date=data.debt_end_date,
            today=today,
            co_owner_consents=consents,
            proceeds_despite_invalidation=data.proceed_despite_pending_invalidation,
        )
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
        consents_to_open_licenses=data.consents_to_open_licenses,
        co_owner_consents=[item.model_dump() for item in data.co_owner_consents],
        pledgee_proceeds_despite_invalidation=data.proceed_despite_pending_invalidation,
        patents=covered,
    )
    session.add(pledge)
    session.flush()
    record_change(session, pledge, actor=pledgee, note="application filed by the pledgee")
    return pledge


def _co_owner_consents(
    covered: Sequence[Patent], given: Sequence[CoOwnerConsent]
) -> dict[int, set[str]]:
    """By patent id, the co-owners who consented; each must be a named co-owner of a patent the
    pledge covers."""
    by_number = {patent.application_number: patent for patent in covered}
    consents: dict[int, set[str]] = {}
    for consent in given:
        patent = by_number.get(consent.application_number)
        if patent is None or consent.co_owner not in co_owner_names(patent):
            raise UnknownCoOwner(
                f"{consent.co_owner!r} is not a co-owner of a patent this pledge covers "
                f"({consent.application_number}).",
                application_number=consent.application_number,
                co_owner=consent.co_owner,
            )
        assert patent.id is not None
        consents.setdefault(patent.id, set()).add(consent.co_owner)
    return consents


def co_owner_consents_of(pledge: Pledge) -> dict[int, set[str]]:
    """By patent id, the co-owners who consented to this pledge."""
    ids = {patent.application_number: patent.id or 0 for patent in pledge.patents}
    consents: dict[int, set[str]] = {}
    for item in pledge.co_owner_consents:
        patent_id = ids.get(item["application_number"])
        if patent_id is not None:
            consents.setdefault(patent_id, set()).add(item["co_owner"])
    return consents


def confirm_pledge(
    *,
    session: Session,
    pledge: Pledge,
    pledgor: Organization,
    confirmation: PledgeConfirmation | None = None,
) -> Pledge:
    """The pledgor joins the application (again, to add that it proceeds despite a pending
    invalidation request)."""
    if pledge.pledgor_id != pledgor.id:
        raise NotPledgor("Only the pledgor confirms a pledge application.")
    if pledge.status != PledgeStatus.applied:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not applied.")
    proceeds = confirmation is not None and confirmation.proceed_despite_pending_invalidation
    changes: dict[str, Any] = {}
    if proceeds and not pledge.pledgor_proceeds_despite_invalidation:
        pledge.pledgor_proceeds_despite_invalidation = True
        changes["pledgor_proceeds_despite_invalidation"] = True
    if pledge.pledgor_confirmed_at is None or changes:
        pledge.pledgor_confirmed_at = pledge.pledgor_confirmed_at or clock.now()
        record_change(
            session,
            pledge,
            actor=pledgor,
            changes=changes,
            note="application confirmed by the pledgor",
        )
    return pledge


def check_registrable(pledge: Pledge, *, today: date) -> None:
    """Registration needs the pledgor's confirmation, and every rule is checked again on the day."""
    if pledge.status != PledgeStatus.applied:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not applied.")
    if pledge.pledgor_confirmed_at is None:
        raise PledgeNotConfirmed("The pledgor has not confirmed this application yet.")
    refuse_if_any(
        issues_of(
            pledge.patents,
            pledgor_id=pledge.pledgor_id,
            debt_end_date=pledge.debt_end_date,
            today=today,
            pledge_id=pledge.id,
            co_owner_consents=co_owner_consents_of(pledge),
            proceeds_despite_invalidation=(
                pledge.pledgee_proceeds_despite_invalidation
                and pledge.pledgor_proceeds_despite_invalidation
            ),
        )
    )


def normalize_registration_number(raw: str) -> str:
    """Spaces removed, letters upper-cased; then it must match the configured pattern."""
    number = "".join(raw.split()).upper()
    if not re.fullmatch(get_settings().pledge_registration_number_pattern, number):
        raise InvalidRegistrationNumber(
            f"{raw!r} is not a pledge registration number as the office issues them.",
            field="registration_number",
        )
    return number


def check_registration(
    session: Session, pledge: Pledge, *, caller: Caller, registration: PledgeRegistrationCreate
) -> str:
    """Who may record the office's registration, and whether its number and date can be true.
    Returns the number in its stored form."""
    if not (caller.is_platform_admin or caller.organization_id == pledge.pledgee_id):
        raise NotPledgee("Only the pledgee or a platform admin records the office's registration.")
    number = normalize_registration_number(registration.registration_number)
    if registration.registration_date > clock.today():
        raise RegistrationDateOutOfRange(
            f"The registration date {registration.registration_date} is in the future.",
            field="registration_date",
        )
    taken = session.scalar(select(Pledge.id).where(Pledge.registration_number == number))
    if taken is not None and taken != pledge.id:
        raise RegistrationNumberInUse(f"Registration number {number} is recorded already.")
    return number


def mark_registered(*, session: Session, pledge: Pledge) -> None:
    """The application becomes a registered pledge; of two racing registrations one wins."""
    _move(session, pledge, allowed=frozenset({PledgeStatus.applied}), to=PledgeStatus.registered)


def claim_patents(*, session: Session, pledge: Pledge) -> None:
    """Each patent is claimed by conditional update, so that of two racing registrations on a
    patent one fails: at most one active pledge per patent."""
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


def record_registration(
    *,
    session: Session,
    pledge: Pledge,
    actor: Organization,
    registration_number: str,
    registration_date: date,
) -> None:
    """The office's registration number and date, and the history entry. The number is unique:
    of two pledges recorded with one number at once, the second is refused."""
    assert pledge.id is not None
    try:
        with session.begin_nested():
            session.execute(
                sa.update(Pledge)
                .where(col(Pledge.id) == pledge.id)
                .values(registration_number=registration_number)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        raise RegistrationNumberInUse(
            f"Registration number {registration_number} was recorded concurrently."
        ) from None
    pledge.registration_number = registration_number
    pledge.registered_date = registration_date
    pledge.registration_number_platform_assigned = False
    record_change(
        session,
        pledge,
        actor=actor,
        changes={
            "registration_number": registration_number,
            "registered_date": registration_date.isoformat(),
        },
        note="registered by the office",
    )


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
    record_change(
        session, pledge, actor=admin, changes={"reasons": refusal.reasons}, note=refusal.note
    )
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
    issues = issues_of(
        pledge.patents,
        pledgor_id=pledge.pledgor_id,
        debt_end_date=end,
        today=clock.today(),
        pledge_id=pledge.id,
        co_owner_consents={},
        proceeds_despite_invalidation=True,
    )
    refuse_if_any([item for item in issues if item.code == "debt_term_exceeds_patent_term"])
    _move(session, pledge, allowed=ACTIVE_PLEDGE_STATUSES, to=PledgeStatus.changed)
    recorded = {
        field: {"from": str(getattr(pledge, field)), "to": str(value)}
        for field, value in values.items()
        if getattr(pledge, field) != value
    }
    for field, value in values.items():
        setattr(pledge, field, value)
    record_change(session, pledge, actor=pledgee, changes=recorded, note=changes.note)
    announce(session, pledge, EventType.pledge_changed, changes=recorded)
    return pledge


def cancel_pledge(
    *,
    session: Session,
    pledge: Pledge,
    caller: Caller,
    cancellation: PledgeCancellation,
) -> Pledge:
    """Ends the pledge (debt repaid, pledge realised, waived, contract void) and frees its
    patents. An application not yet registered can be withdrawn the same way. The pledgee or a
    platform admin does it."""
    if not (caller.is_platform_admin or caller.organization_id == pledge.pledgee_id):
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
    freed = [patent for patent in pledge.patents if patent.active_pledge_id == pledge.id]
    for patent in freed:
        patent.active_pledge_id = None
    declarations.on_pledge_ended(session=session, pledge=pledge, patents=freed)
    pledge.cancellation_reason = cancellation.reason
    pledge.cancelled_at = clock.now()
    record_change(
        session,
        pledge,
        actor=caller.organization,
        changes={"reason": str(cancellation.reason)},
        note=cancellation.note,
    )
    announce(session, pledge, EventType.pledge_cancelled, reason=str(cancellation.reason))
    return pledge
