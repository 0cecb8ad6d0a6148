"""Builders shared by the pledge lifecycle tests: the parties of a pledge (a bank, the owner of
the patents, a platform admin) and a pledge brought to any state through the service."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, func, select

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.patents.models import Patent
from marketplace.pledges import lifecycle
from marketplace.pledges.models import (
    CancellationReason,
    Pledge,
    PledgeCancellation,
    PledgeCreate,
    PledgeRefusal,
    PledgeRegistrationCreate,
    PledgeStatus,
    PledgeUpdate,
)
from marketplace.workflows import pledges as pledge_workflows
from tests import factories
from tests.factories import NewParty, Party


@pytest.fixture
def bank(new_party: NewParty) -> Party:
    """The pledgee of the pledges under test."""
    return new_party(kind=OrganizationKind.bank)


@pytest.fixture
def other_bank(new_party: NewParty) -> Party:
    """A bank that is no party to the pledges under test: it reads the public register."""
    return new_party(kind=OrganizationKind.bank)


@pytest.fixture
def owner(new_party: NewParty) -> Party:
    """The pledgor: an enterprise that owns the pledged patents."""
    return new_party(kind=OrganizationKind.enterprise)


@pytest.fixture
def admin(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.platform)


# An invention filed on 2020-03-01 (the factory's default) is in force up to and including this.
TERM_END = date(2040, 2, 29)


def platform(session: Session) -> Organization:
    """A platform organization: registers and refuses pledges."""
    return factories.organization(session, kind=OrganizationKind.platform)


# The application every test starts from unless it overrides a field.
SECURED_AMOUNT = Decimal("5000000.00")
DEBT_START = date(2026, 7, 1)
DEBT_END = date(2029, 6, 30)
VALUATION = {
    "amount": "8000000",
    "method": "income",
    "valuer": "Zhejiang Assets Appraisal Co.",
    "valuation_date": "2026-06-10",
    "report_ref": "ZA-2026-118",
}


def application_body(pledgor_id: int, patents: list[Patent], **overrides: Any) -> dict[str, Any]:
    """The JSON of ``POST /api/v1/pledges``."""
    body: dict[str, Any] = {
        "pledgor_id": pledgor_id,
        "application_numbers": [patent.application_number for patent in patents],
        "secured_amount": str(SECURED_AMOUNT),
        "currency": "CNY",
        "debt_start_date": DEBT_START.isoformat(),
        "debt_end_date": DEBT_END.isoformat(),
        "debtor_name": "Hangzhou Battery Works",
        "valuation": VALUATION,
    }
    body.update(overrides)
    return body


def application(pledgor: Organization, patents: list[Patent], **overrides: Any) -> PledgeCreate:
    assert pledgor.id is not None
    return PledgeCreate.model_validate(application_body(pledgor.id, patents, **overrides))


def make_pledge(
    session: Session,
    *,
    pledgee: Organization,
    pledgor: Organization,
    patents: list[Patent] | None = None,
    status: PledgeStatus = PledgeStatus.registered,
    confirmed: bool = True,
    **overrides: Any,
) -> Pledge:
    """A pledge brought to ``status`` through the service, as the parties and an admin would."""
    covered = patents if patents is not None else [factories.patent(session, pledgor)]
    pledge = lifecycle.apply_for_pledge(
        session=session, pledgee=pledgee, data=application(pledgor, covered, **overrides)
    )
    if status is PledgeStatus.applied:
        if confirmed:
            lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=pledgor)
        return pledge
    if status is PledgeStatus.cancelled and not confirmed:
        # Withdrawn before registration.
        return lifecycle.cancel_pledge(
            session=session,
            pledge=pledge,
            caller=factories.caller(pledgee),
            cancellation=PledgeCancellation(reason=CancellationReason.void),
        )
    platform = factories.organization(session, kind=OrganizationKind.platform)
    if status is PledgeStatus.refused:
        return lifecycle.refuse_pledge(
            session=session,
            pledge=pledge,
            admin=platform,
            refusal=PledgeRefusal(reasons=["documents_incomplete"]),
        )
    lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=pledgor)
    register(session, pledge, factories.caller(pledgee))
    if status is PledgeStatus.changed:
        lifecycle.amend_pledge(
            session=session,
            pledge=pledge,
            pledgee=pledgee,
            changes=PledgeUpdate(secured_amount=Decimal("6000000")),
        )
    elif status is PledgeStatus.cancelled:
        lifecycle.cancel_pledge(
            session=session,
            pledge=pledge,
            caller=factories.caller(pledgee),
            cancellation=PledgeCancellation(reason=CancellationReason.debt_repaid),
        )
    return pledge


MakePledge = Callable[..., Pledge]


def registration_number() -> str:
    """A fresh number in the office's style."""
    return f"Y2026980{factories.next_number():06d}"


def registration(
    number: str | None = None, registered: date | None = None
) -> PledgeRegistrationCreate:
    return PledgeRegistrationCreate(
        registration_number=number or registration_number(),
        registration_date=registered or clock.today(),
    )


def register(
    session: Session,
    pledge: Pledge,
    caller: Caller,
    number: str | None = None,
    registered: date | None = None,
) -> Pledge:
    """The office registered ``pledge``; ``caller`` records it."""
    return pledge_workflows.record_registration(
        session=session,
        pledge=pledge,
        caller=caller,
        registration=registration(number, registered),
    )


@pytest.fixture
def pledge_of(session: Session, bank: Party, owner: Party) -> MakePledge:
    """``pledge_of(status=..., patents=..., pledgee=..., pledgor=..., **application fields)``:
    by default ``bank`` lends against a fresh patent of ``owner``, registered."""

    def build(
        *, pledgee: Party | None = None, pledgor: Party | None = None, **kwargs: Any
    ) -> Pledge:
        return make_pledge(
            session,
            pledgee=(pledgee or bank).organization,
            pledgor=(pledgor or owner).organization,
            **kwargs,
        )

    return build


def pledge_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Pledge)) or 0
