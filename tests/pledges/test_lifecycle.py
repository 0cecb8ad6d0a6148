"""A pledge's life called directly: application, confirmation, refusal, amendment and
cancellation, with their state guards."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.patents.models import LegalStatus
from marketplace.pledges import lifecycle
from marketplace.pledges.errors import (
    InvalidPledgeUpdate,
    NotPledgee,
    NotPledgor,
    PledgeRefused,
    PledgeWrongState,
    PledgorNotFound,
    UnknownApplicationNumbers,
)
from marketplace.pledges.models import (
    CancellationReason,
    PledgeCancellation,
    PledgeCreate,
    PledgeRefusal,
    PledgeStatus,
    PledgeUpdate,
)
from tests import factories
from tests.conftest import TODAY
from tests.factories import NewParty, Party, SetToday
from tests.pledges.conftest import (
    TERM_END,
    MakePledge,
    application,
    platform,
    pledge_count,
)

# Application -----------------------------------------------------------------------------------


def test_apply_records_an_applied_unconfirmed_pledge_with_one_history_entry(
    session: Session, bank: Party, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = lifecycle.apply_for_pledge(
        session=session,
        pledgee=bank.organization,
        data=application(owner.organization, [patent]),
    )
    assert pledge.status is PledgeStatus.applied
    assert pledge.pledgor_confirmed_at is None
    assert pledge.registration_number is None
    assert [p.id for p in pledge.patents] == [patent.id]
    assert [(c.status, c.actor_organization_id) for c in pledge.history] == [
        (PledgeStatus.applied, bank.id)
    ]
    # Applying does not claim the patent: only registration does.
    assert patent.active_pledge_id is None


def test_apply_refuses_with_every_reason_of_every_patent(
    session: Session, bank: Party, owner: Party, new_party: NewParty
) -> None:
    foreign = factories.patent(session, new_party(kind=OrganizationKind.university).organization)
    pending = factories.patent(session, owner.organization, legal_status=LegalStatus.pending)
    before = pledge_count(session)
    with pytest.raises(PledgeRefused) as refused:
        lifecycle.apply_for_pledge(
            session=session,
            pledgee=bank.organization,
            data=application(owner.organization, [foreign, pending]),
        )
    assert refused.value.code == "pledgor_not_owner"
    assert [(reason["code"], reason["patent_id"]) for reason in refused.value.extra["reasons"]] == [
        ("pledgor_not_owner", foreign.id),
        ("patent_not_granted", pending.id),
    ]
    assert pledge_count(session) == before


def test_apply_reports_every_unknown_number(session: Session, bank: Party, owner: Party) -> None:
    known = factories.patent(session, owner.organization)
    missing = [factories.application_number(), factories.application_number()]
    data = PledgeCreate.model_validate(
        {
            **application(owner.organization, [known]).model_dump(),
            "application_numbers": [missing[0], known.application_number, missing[1]],
        }
    )
    with pytest.raises(UnknownApplicationNumbers) as unknown:
        lifecycle.apply_for_pledge(session=session, pledgee=bank.organization, data=data)
    assert unknown.value.extra["application_numbers"] == missing


def test_apply_takes_a_patent_named_twice_once(session: Session, bank: Party, owner: Party) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = lifecycle.apply_for_pledge(
        session=session,
        pledgee=bank.organization,
        data=application(owner.organization, [patent, patent]),
    )
    assert [p.id for p in pledge.patents] == [patent.id]


@pytest.mark.parametrize("who", ["unknown", "platform", "the bank itself"])
def test_apply_refuses_a_pledgor_that_cannot_be_one(
    session: Session, bank: Party, owner: Party, who: str
) -> None:
    patent = factories.patent(session, owner.organization)
    pledgor_id = {
        "unknown": 2**31 - 1,
        "platform": platform(session).id,
        "the bank itself": bank.id,
    }[who]
    data = PledgeCreate.model_validate(
        {**application(owner.organization, [patent]).model_dump(), "pledgor_id": pledgor_id}
    )
    with pytest.raises(PledgorNotFound):
        lifecycle.apply_for_pledge(session=session, pledgee=bank.organization, data=data)


# Confirmation ----------------------------------------------------------------------------------


def test_confirm_is_for_the_pledgor_only(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    with pytest.raises(NotPledgor):
        lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=bank.organization)
    assert pledge.pledgor_confirmed_at is None


def test_confirm_twice_keeps_the_first_confirmation(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    first = pledge.pledgor_confirmed_at
    entries = len(pledge.history)
    set_today(TODAY + timedelta(days=1))
    lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=owner.organization)
    assert first is not None
    assert pledge.pledgor_confirmed_at == first
    assert len(pledge.history) == entries


@pytest.mark.parametrize("status", [PledgeStatus.registered, PledgeStatus.refused])
def test_confirm_needs_an_application(
    session: Session, owner: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=owner.organization)


# Refusal ---------------------------------------------------------------------------------------


def test_refuse_records_the_reason_codes(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    lifecycle.refuse_pledge(
        session=session,
        pledge=pledge,
        admin=platform(session),
        refusal=PledgeRefusal(reasons=["invalidation_pending", "co_owner_consent_missing"]),
    )
    session.expire_all()
    assert pledge.status is PledgeStatus.refused
    assert pledge.refusal_reasons == [
        {"code": "invalidation_pending"},
        {"code": "co_owner_consent_missing"},
    ]
    assert pledge.registration_number is None


def test_refuse_rejects_unknown_reason_codes(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    with pytest.raises(InvalidPledgeUpdate) as invalid:
        lifecycle.refuse_pledge(
            session=session,
            pledge=pledge,
            admin=platform(session),
            refusal=PledgeRefusal(reasons=["patent_suspended", "bank_changed_its_mind"]),
        )
    assert "bank_changed_its_mind" in invalid.value.detail
    assert "patent_suspended" in invalid.value.extra["allowed"]
    assert pledge.status is PledgeStatus.applied


def test_refuse_needs_an_application(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    with pytest.raises(PledgeWrongState):
        lifecycle.refuse_pledge(
            session=session,
            pledge=pledge,
            admin=platform(session),
            refusal=PledgeRefusal(reasons=["other"]),
        )


# Amendment -------------------------------------------------------------------------------------


def test_amend_records_what_changed_from_and_to(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    lifecycle.amend_pledge(
        session=session,
        pledge=pledge,
        pledgee=bank.organization,
        changes=PledgeUpdate(
            secured_amount=Decimal("6000000"),
            debt_start_date=pledge.debt_start_date,
            debt_end_date=date(2030, 6, 30),
            note="loan extended",
        ),
    )
    session.expire_all()
    assert pledge.status is PledgeStatus.changed
    assert pledge.secured_amount == Decimal("6000000.00")
    assert pledge.debt_end_date == date(2030, 6, 30)
    last = pledge.history[-1]
    # The start date was given unchanged, so it is not recorded as a change.
    assert last.changes == {
        "secured_amount": {"from": "5000000.00", "to": "6000000.00"},
        "debt_end_date": {"from": "2029-06-30", "to": "2030-06-30"},
    }
    assert (last.status, last.note) == (PledgeStatus.changed, "loan extended")


def test_amend_a_changed_pledge_again_keeps_every_change(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.changed)
    entries = len(pledge.history)
    lifecycle.amend_pledge(
        session=session,
        pledge=pledge,
        pledgee=bank.organization,
        changes=PledgeUpdate(secured_amount=Decimal("7000000")),
    )
    assert pledge.status is PledgeStatus.changed
    assert [c.changes for c in pledge.history[-2:]] == [
        {"secured_amount": {"from": "5000000.00", "to": "6000000.00"}},
        {"secured_amount": {"from": "6000000.00", "to": "7000000.00"}},
    ]
    assert len(pledge.history) == entries + 1


def test_amend_is_for_the_pledgee_only(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    for outsider in (owner, other_bank):
        with pytest.raises(NotPledgee):
            lifecycle.amend_pledge(
                session=session,
                pledge=pledge,
                pledgee=outsider.organization,
                changes=PledgeUpdate(secured_amount=Decimal("1")),
            )
    assert pledge.status is PledgeStatus.registered


@pytest.mark.parametrize(
    "changes",
    [
        PledgeUpdate(),
        PledgeUpdate(note="nothing else"),
        PledgeUpdate(secured_amount=None),
        PledgeUpdate(debt_end_date=None, secured_amount=Decimal("1")),
        PledgeUpdate(debt_end_date=date(2026, 6, 30)),  # before the debt's start
    ],
    ids=["empty", "note only", "null amount", "null end", "end before start"],
)
def test_amend_refuses_an_empty_null_or_inverted_amendment(
    session: Session, bank: Party, pledge_of: MakePledge, changes: PledgeUpdate
) -> None:
    pledge = pledge_of()
    with pytest.raises(InvalidPledgeUpdate):
        lifecycle.amend_pledge(
            session=session, pledge=pledge, pledgee=bank.organization, changes=changes
        )
    assert pledge.status is PledgeStatus.registered


def test_amend_refuses_a_debt_running_past_the_patent_term(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    with pytest.raises(PledgeRefused) as refused:
        lifecycle.amend_pledge(
            session=session,
            pledge=pledge,
            pledgee=bank.organization,
            changes=PledgeUpdate(debt_end_date=TERM_END + timedelta(days=1)),
        )
    assert refused.value.code == "debt_term_exceeds_patent_term"
    lifecycle.amend_pledge(
        session=session,
        pledge=pledge,
        pledgee=bank.organization,
        changes=PledgeUpdate(debt_end_date=TERM_END),
    )
    assert pledge.debt_end_date == TERM_END


def test_amend_ignores_rules_other_than_the_term_on_a_registered_pledge(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    # The fee falling into its grace period does not stop the bank amending its own loan.
    patent = factories.patent(session, owner.organization, fee_paid_until=TODAY + timedelta(5))
    pledge = pledge_of(patents=[patent])
    set_today(TODAY + timedelta(days=10))
    lifecycle.amend_pledge(
        session=session,
        pledge=pledge,
        pledgee=bank.organization,
        changes=PledgeUpdate(secured_amount=Decimal("4000000")),
    )
    assert pledge.status is PledgeStatus.changed


@pytest.mark.parametrize(
    "status", [PledgeStatus.applied, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_amend_needs_a_registered_pledge(
    session: Session, bank: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        lifecycle.amend_pledge(
            session=session,
            pledge=pledge,
            pledgee=bank.organization,
            changes=PledgeUpdate(secured_amount=Decimal("1")),
        )


# Cancellation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(CancellationReason))
def test_cancel_frees_the_patents_for_a_new_pledge(
    session: Session,
    bank: Party,
    owner: Party,
    other_bank: Party,
    pledge_of: MakePledge,
    reason: CancellationReason,
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(patents=covered, status=PledgeStatus.changed)
    lifecycle.cancel_pledge(
        session=session,
        pledge=pledge,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=reason),
    )
    session.expire_all()
    assert pledge.status is PledgeStatus.cancelled
    assert pledge.cancellation_reason is reason
    assert pledge.cancelled_at is not None
    assert [p.active_pledge_id for p in covered] == [None, None]
    assert pledge.history[-1].changes == {"reason": reason.value}
    again = pledge_of(patents=covered, pledgee=other_bank)
    assert again.status is PledgeStatus.registered


def test_cancel_withdraws_an_application_without_freeing_the_patent_of_another_pledge(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    patent = factories.patent(session, owner.organization)
    # Applications do not claim the patent, so another bank registered its pledge meanwhile.
    withdrawn = pledge_of(status=PledgeStatus.applied, patents=[patent])
    registered = pledge_of(patents=[patent], pledgee=other_bank)
    lifecycle.cancel_pledge(
        session=session,
        pledge=withdrawn,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=CancellationReason.void),
    )
    session.expire_all()
    assert withdrawn.status is PledgeStatus.cancelled
    assert withdrawn.registration_number is None
    assert patent.active_pledge_id == registered.id


@pytest.mark.parametrize("status", [PledgeStatus.refused, PledgeStatus.cancelled])
def test_cancel_needs_a_live_pledge(
    session: Session, bank: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        lifecycle.cancel_pledge(
            session=session,
            pledge=pledge,
            caller=factories.caller(bank.organization),
            cancellation=PledgeCancellation(reason=CancellationReason.waived),
        )
