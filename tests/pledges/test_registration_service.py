"""The office's registration of a pledge, at the service: its number as the office issues them
(a configurable pattern, never minted), a date that is not in the future, and each number once."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from marketplace import clock
from marketplace.config import get_settings
from marketplace.pledges.errors import (
    InvalidRegistrationNumber,
    NotPledgee,
    RegistrationDateOutOfRange,
    RegistrationNumberInUse,
)
from marketplace.pledges.models import PledgeStatus
from tests import factories
from tests.factories import Party, SetNow
from tests.pledges.conftest import MakePledge, register


def test_a_number_the_office_does_not_issue_is_refused(
    session: Session, bank: Party, pledge_of: MakePledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    for number in ("ZL2026000001", "Y1", "Y2026/980#12"):
        with pytest.raises(InvalidRegistrationNumber):
            register(session, pledge, factories.caller(bank.organization), number=number)
    monkeypatch.setattr(get_settings(), "pledge_registration_number_pattern", r"^Q\d{6}$")
    with pytest.raises(InvalidRegistrationNumber):
        register(session, pledge, factories.caller(bank.organization), number="Y2026980000123")
    registered = register(session, pledge, factories.caller(bank.organization), number="q123456")
    assert (registered.status, registered.registration_number) == (
        PledgeStatus.registered,
        "Q123456",
    )


def test_a_registration_date_in_the_future_is_refused(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    with pytest.raises(RegistrationDateOutOfRange):
        register(
            session,
            pledge,
            factories.caller(bank.organization),
            registered=clock.today() + timedelta(days=1),
        )
    assert pledge.status == PledgeStatus.applied


def test_each_registration_number_is_recorded_once(
    session: Session, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    first = pledge_of(status=PledgeStatus.applied)
    second = pledge_of(status=PledgeStatus.applied, pledgee=other_bank)
    register(session, first, factories.caller(bank.organization), number="Y2026980000777")
    with pytest.raises(RegistrationNumberInUse):
        register(
            session, second, factories.caller(other_bank.organization), number="y2026980000777"
        )


def test_only_the_pledgee_or_a_platform_admin_records_it(
    session: Session, owner: Party, other_bank: Party, admin: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    for party in (owner, other_bank):
        with pytest.raises(NotPledgee):
            register(session, pledge, factories.caller(party.organization))
    registered = register(session, pledge, factories.caller(admin.organization))
    assert registered.status == PledgeStatus.registered


def test_the_registration_date_is_not_in_the_future_in_china(
    session: Session, bank: Party, pledge_of: MakePledge, set_now: SetNow
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    # 20:00 UTC on 15 June is 04:00 on 16 June in China, where the office dates its notice.
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    caller = factories.caller(bank.organization)
    with pytest.raises(RegistrationDateOutOfRange):
        register(session, pledge, caller, registered=date(2026, 6, 17))
    assert register(session, pledge, caller, registered=date(2026, 6, 16)).registered_date == (
        date(2026, 6, 16)
    )
