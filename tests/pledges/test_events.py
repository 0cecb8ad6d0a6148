"""Every pledge-relevant change is written as an event for the pledgee, with the change."""

from collections.abc import Callable
from datetime import date, timedelta

from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.events.models import Event, EventType
from marketplace.patents.models import LegalStatus, PatentUpdate
from marketplace.pledges import collateral, lifecycle
from marketplace.pledges import service as pledges
from marketplace.pledges.models import (
    CancellationReason,
    PledgeCancellation,
    PledgeStatus,
    PledgeUpdate,
)
from marketplace.workflows import acceptance
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import MakePledge


def events_of(session: Session, party: Party) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(Event).where(col(Event.recipient_id) == party.id).order_by(col(Event.id))
    ).all()
    return [(event.type, event.subject) for event in rows]


def test_registration_change_and_cancellation_reach_both_parties(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    lifecycle.amend_pledge(
        session=session,
        pledge=pledge,
        pledgee=bank.organization,
        changes=PledgeUpdate(debt_end_date=date(2029, 12, 31)),
    )
    lifecycle.cancel_pledge(
        session=session,
        pledge=pledge,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=CancellationReason.debt_repaid),
    )
    subject = f"pledge:{pledge.id}"
    expected = [
        (EventType.pledge_registered.value, subject),
        (EventType.pledge_changed.value, subject),
        (EventType.pledge_cancelled.value, subject),
    ]
    assert events_of(session, bank) == expected
    assert events_of(session, owner) == expected
    cancelled = session.scalars(
        select(Event).where(col(Event.type) == EventType.pledge_cancelled.value)
    ).first()
    assert cancelled is not None
    assert cancelled.payload["reason"] == "debt_repaid"


def test_a_pledged_patents_standing_changes_are_told_to_the_pledgee(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    patent = pledge.patents[0]
    before = len(events_of(session, bank))
    patent_workflows.update_patent(
        session=session,
        patent=patent,
        changes=PatentUpdate(fee_paid_until=date(2026, 6, 1)),  # now in the late-payment period
    )
    patent_workflows.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.invalidated)
    )
    patent_workflows.update_patent(
        session=session, patent=patent, changes=PatentUpdate(title="Renamed")
    )
    told = events_of(session, bank)[before:]
    assert [kind for kind, _ in told] == [
        EventType.pledged_patent_fee_changed.value,
        EventType.pledged_patent_status_changed.value,
    ]


def test_an_unpledged_patent_changes_quietly(session: Session, owner: Party) -> None:
    patent = factories.patent(session, owner.organization)
    patent_workflows.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.lapsed)
    )
    assert session.scalars(select(Event)).all() == []


def test_an_open_license_and_a_license_on_a_pledged_patent_are_told_to_the_pledgee(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    listing = factories.draft_listing(session, owner.organization, patent_list=list(pledge.patents))
    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id or 0
    )
    factories.publish(session, listing)
    licensee = factories.organization(session, kind=OrganizationKind.enterprise)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=listing.offers[0].id or 0,
        licensee=licensee,
        user=None,
        idempotency_key="k",
    ).license
    # The license arises once its entry fee is paid (Patent Law art. 51): the pledgee hears then.
    factories.pay_upfront(session, license_)
    kinds = [kind for kind, _ in events_of(session, bank)]
    assert kinds[-2:] == [
        EventType.pledged_patent_listed.value,
        EventType.pledged_patent_licensed.value,
    ]
    licensed = session.scalars(
        select(Event).where(col(Event.type) == EventType.pledged_patent_licensed.value)
    ).one()
    assert licensed.payload["license_id"] == license_.id
    assert licensed.payload["application_numbers"] == [pledge.patents[0].application_number]
    # The licensee is no party to the pledge and hears nothing of it (only of its license and
    # its payment).
    told_licensee = session.scalars(
        select(Event.type).where(col(Event.recipient_id) == licensee.id)
    ).all()
    assert not [kind for kind in told_licensee if kind.startswith("pledge")]


def test_the_daily_sweep_tells_the_pledgee_when_a_fee_falls_due_and_when_grace_ends(
    session: Session, bank: Party, pledge_of: MakePledge, set_today: Callable[[date], None]
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    paid_until = pledge.patents[0].fee_paid_until
    assert paid_until is not None

    def fee_events() -> list[dict[str, object]]:
        rows = session.scalars(
            select(Event)
            .where(col(Event.recipient_id) == bank.id)
            .where(col(Event.type) == EventType.pledged_patent_fee_changed.value)
            .order_by(col(Event.id))
        ).all()
        return [event.payload for event in rows]

    set_today(paid_until)
    assert collateral.watch_fee_standing(session=session, today=paid_until) == 0

    due = paid_until + timedelta(days=1)
    assert collateral.watch_fee_standing(session=session, today=due) == 1
    # Nothing new the next day: the pledgee already knows.
    assert collateral.watch_fee_standing(session=session, today=due + timedelta(days=1)) == 0

    beyond_grace = paid_until + timedelta(days=200)
    assert collateral.watch_fee_standing(session=session, today=beyond_grace) == 1
    assert [(e["fee_status_before"], e["fee_status"]) for e in fee_events()] == [
        ("paid", "grace"),
        ("grace", "arrears"),
    ]


def test_the_sweep_ignores_ended_pledges(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    lifecycle.cancel_pledge(
        session=session,
        pledge=pledge,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=CancellationReason.debt_repaid),
    )
    far_later = date(2040, 1, 1)
    assert collateral.watch_fee_standing(session=session, today=far_later) == 0
