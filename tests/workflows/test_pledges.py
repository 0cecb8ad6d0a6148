"""Registering a pledge: the rules again on the day, the claim of each patent under a concurrent
registration, the registration number and date."""

from datetime import timedelta

import pytest
from sqlmodel import Session

from marketplace.pledges import rules
from marketplace.pledges.errors import PledgeNotConfirmed, PledgeRefused, PledgeWrongState
from marketplace.pledges.models import Pledge, PledgeStatus
from tests import factories
from tests.conftest import TODAY
from tests.factories import Party, SetToday
from tests.pledges.conftest import MakePledge, platform, register


def test_register_records_the_offices_number_and_date_and_claims_every_patent(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(status=PledgeStatus.applied, patents=covered)
    day = TODAY + timedelta(days=3)
    set_today(day)
    admin = platform(session)
    register(session, pledge, factories.caller(admin), "y 2026 980 000 123", TODAY)
    session.expire_all()
    assert pledge.status is PledgeStatus.registered
    # The office's number and date as entered, never one the platform makes up.
    assert pledge.registered_date == TODAY
    assert pledge.registration_number == "Y2026980000123"
    assert pledge.registration_number_platform_assigned is False
    assert [p.active_pledge_id for p in covered] == [pledge.id, pledge.id]
    assert (pledge.history[-1].status, pledge.history[-1].actor_organization_id) == (
        PledgeStatus.registered,
        admin.id,
    )


def test_register_needs_the_pledgors_confirmation(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    with pytest.raises(PledgeNotConfirmed):
        register(session, pledge, factories.caller(platform(session)))
    assert pledge.status is PledgeStatus.applied


@pytest.mark.parametrize(
    "status", [PledgeStatus.registered, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_register_needs_an_application(
    session: Session, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        register(session, pledge, factories.caller(platform(session)))


def test_register_checks_the_rules_again_on_the_day_of_registration(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    patent = factories.patent(session, owner.organization, fee_paid_until=TODAY + timedelta(5))
    pledge = pledge_of(status=PledgeStatus.applied, patents=[patent])
    set_today(TODAY + timedelta(days=6))
    with pytest.raises(PledgeRefused) as refused:
        register(session, pledge, factories.caller(platform(session)))
    assert refused.value.code == "annual_fee_in_arrears"
    session.expire_all()
    assert pledge.status is PledgeStatus.applied
    assert patent.active_pledge_id is None


def test_register_refuses_a_patent_registered_under_another_pledge_meanwhile(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    patent = factories.patent(session, owner.organization)
    first = pledge_of(status=PledgeStatus.applied, patents=[patent])
    second = pledge_of(status=PledgeStatus.applied, patents=[patent], pledgee=other_bank)
    register(session, first, factories.caller(platform(session)))
    with pytest.raises(PledgeRefused) as refused:
        register(session, second, factories.caller(platform(session)))
    assert refused.value.code == "patent_already_pledged"


def test_register_claims_the_patent_conditionally_against_a_concurrent_registration(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    patent = factories.patent(session, owner.organization)
    first = pledge_of(status=PledgeStatus.applied, patents=[patent])
    second = pledge_of(status=PledgeStatus.applied, patents=[patent], pledgee=other_bank)
    # A second session on the same connection plays a concurrent request: it loaded the second
    # pledge (and the patent, still unclaimed) before the first was registered, so the rule check
    # passes and only the conditional claim can catch the conflict. (Closing it rolls back its
    # savepoint, so everything is asserted inside the block.)
    with Session(bind=session.connection()) as concurrent:
        stale = concurrent.get(Pledge, second.id)
        assert stale is not None
        assert stale.patents[0].active_pledge_id is None
        register(session, first, factories.caller(platform(session)))
        assert (
            rules.pledge_issues(
                stale.patents[0],
                pledgor_id=owner.id,
                debt_end_date=stale.debt_end_date,
                today=TODAY,
                pledge_id=stale.id,
            )
            == []
        )
        with pytest.raises(PledgeRefused) as refused:
            register(concurrent, stale, factories.caller(platform(session)))
        assert refused.value.code == "patent_already_pledged"
        session.expire_all()
        assert patent.active_pledge_id == first.id


def test_register_the_same_pledge_concurrently_succeeds_once(
    session: Session, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    with Session(bind=session.connection()) as concurrent:
        stale = concurrent.get(Pledge, pledge.id)
        assert stale is not None
        register(session, pledge, factories.caller(platform(session)))
        with pytest.raises(PledgeWrongState):
            register(concurrent, stale, factories.caller(platform(session)))
