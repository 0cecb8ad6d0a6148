"""The pledge rules called directly: every refusal code, the lifecycle's state guards, the claim
of a patent at registration under a concurrent registration, amendments, cancellation, and the
pledgee's consent to open licensing (Civil Code art. 444)."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.pagination import PageParams
from marketplace.patents import service as patents
from marketplace.patents.models import (
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
)
from marketplace.pledges import service as pledges
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
    CancellationReason,
    Pledge,
    PledgeCancellation,
    PledgeCreate,
    PledgeRefusal,
    PledgeStatus,
    PledgeUpdate,
)
from marketplace.workflows import declarations
from tests import factories
from tests.conftest import TODAY
from tests.pledges.conftest import (
    DEBT_END,
    MakePledge,
    NewParty,
    Party,
    application,
    pledge_count,
)

SetToday = Callable[[date], None]
# An invention filed on 2020-03-01 (the factory's default) is in force up to and including this.
TERM_END = date(2040, 2, 29)


def issue_codes(patent: Patent, pledgor: Organization, **kwargs: object) -> list[str]:
    assert pledgor.id is not None
    found = pledges.pledge_issues(
        patent,
        pledgor_id=pledgor.id,
        debt_end_date=kwargs.pop("debt_end_date", DEBT_END),  # type: ignore[arg-type]
        today=kwargs.pop("today", TODAY),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
    return [item.code for item in found]


def encumber(session: Session, patent: Patent, kind: EncumbranceKind, **fields: object) -> None:
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate.model_validate(
            {"kind": kind, "starts_on": TODAY - timedelta(days=30), **fields}
        ),
    )


def platform(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.platform)


# pledge_issues: every code -------------------------------------------------------------------


def test_a_granted_paid_unencumbered_patent_of_the_pledgor_has_no_issues(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    assert issue_codes(patent, owner.organization) == []


def test_pledge_issues_pledgor_not_owner(
    session: Session, owner: Party, new_party: NewParty
) -> None:
    stranger = new_party(kind=OrganizationKind.enterprise)
    patent = factories.patent(session, stranger.organization)
    assert issue_codes(patent, owner.organization) == ["pledgor_not_owner"]


def test_pledge_issues_patent_not_granted(session: Session, owner: Party) -> None:
    patent = factories.patent(session, owner.organization, legal_status=LegalStatus.pending)
    assert issue_codes(patent, owner.organization) == ["patent_not_granted"]


@pytest.mark.parametrize(
    "legal_status", [LegalStatus.lapsed, LegalStatus.invalidated, LegalStatus.expired]
)
def test_pledge_issues_patent_not_in_force_by_legal_status(
    session: Session, owner: Party, legal_status: LegalStatus
) -> None:
    patent = factories.patent(session, owner.organization, legal_status=legal_status)
    assert issue_codes(patent, owner.organization) == ["patent_not_in_force"]


def test_pledge_issues_patent_not_in_force_the_day_after_its_term(
    session: Session, owner: Party
) -> None:
    # Filed 2006-06-16: an invention's 20 years end on 2026-06-15, today.
    patent = factories.patent(
        session,
        owner.organization,
        filing_date=date(2006, 6, 16),
        grant_date=date(2009, 1, 5),
        fee_paid_until=date(2026, 6, 15),  # paid to the end of the term
    )
    end = date(2026, 6, 15)
    assert issue_codes(patent, owner.organization, debt_end_date=end, today=end) == []
    assert issue_codes(
        patent, owner.organization, debt_end_date=end, today=end + timedelta(days=1)
    ) == ["patent_not_in_force"]


def test_pledge_issues_annual_fee_in_arrears_only_in_the_grace_period(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization, fee_paid_until=TODAY - timedelta(days=1))
    assert issue_codes(patent, owner.organization) == ["annual_fee_in_arrears"]
    # Paid through today: no arrears yet.
    assert issue_codes(patent, owner.organization, today=TODAY - timedelta(days=1)) == []
    # Past the six-month grace the patent has lapsed for the fee: not in force any more.
    assert issue_codes(patent, owner.organization, today=date(2027, 1, 1)) == [
        "patent_not_in_force"
    ]


def test_pledge_issues_patent_already_pledged_unless_it_is_the_pledge_itself(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    patent = pledge.patents[0]
    assert issue_codes(patent, owner.organization) == ["patent_already_pledged"]
    assert issue_codes(patent, owner.organization, pledge_id=pledge.id) == []


def test_pledge_issues_debt_term_may_end_on_the_patents_last_day_but_not_after(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    assert issue_codes(patent, owner.organization, debt_end_date=TERM_END) == []
    assert issue_codes(patent, owner.organization, debt_end_date=TERM_END + timedelta(days=1)) == [
        "debt_term_exceeds_patent_term"
    ]
    # The encumbrance check asks without a debt: the term rule does not apply.
    assert issue_codes(patent, owner.organization, debt_end_date=None) == []


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (EncumbranceKind.exclusive_license, "exclusive_license_in_force"),
        (EncumbranceKind.sole_license, "exclusive_license_in_force"),
        (EncumbranceKind.court_preservation, "patent_suspended"),
        (EncumbranceKind.ownership_dispute, "patent_suspended"),
    ],
)
def test_pledge_issues_restrictions_in_force(
    session: Session, owner: Party, kind: EncumbranceKind, code: str
) -> None:
    patent = factories.patent(session, owner.organization)
    encumber(session, patent, kind)
    assert issue_codes(patent, owner.organization) == [code]


def test_pledge_issues_ignore_non_exclusive_ended_and_released_encumbrances(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    encumber(session, patent, EncumbranceKind.non_exclusive_license)
    encumber(session, patent, EncumbranceKind.exclusive_license, ends_on=TODAY - timedelta(days=1))
    encumber(session, patent, EncumbranceKind.court_preservation, starts_on=TODAY + timedelta(1))
    encumber(session, patent, EncumbranceKind.ownership_dispute)
    patents.release_encumbrance(session=session, encumbrance=patent.encumbrances[-1])
    assert issue_codes(patent, owner.organization) == []


def test_pledge_issues_lists_every_reason_at_once(
    session: Session, owner: Party, new_party: NewParty
) -> None:
    stranger = new_party(kind=OrganizationKind.enterprise)
    patent = factories.patent(
        session, stranger.organization, fee_paid_until=TODAY - timedelta(days=1)
    )
    encumber(session, patent, EncumbranceKind.sole_license)
    encumber(session, patent, EncumbranceKind.court_preservation)
    assert issue_codes(patent, owner.organization, debt_end_date=TERM_END + timedelta(days=1)) == [
        "pledgor_not_owner",
        "annual_fee_in_arrears",
        "debt_term_exceeds_patent_term",
        "exclusive_license_in_force",
        "patent_suspended",
    ]


# Application -----------------------------------------------------------------------------------


def test_apply_records_an_applied_unconfirmed_pledge_with_one_history_entry(
    session: Session, bank: Party, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = pledges.apply_for_pledge(
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
        pledges.apply_for_pledge(
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
        pledges.apply_for_pledge(session=session, pledgee=bank.organization, data=data)
    assert unknown.value.extra["application_numbers"] == missing


def test_apply_takes_a_patent_named_twice_once(session: Session, bank: Party, owner: Party) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = pledges.apply_for_pledge(
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
        pledges.apply_for_pledge(session=session, pledgee=bank.organization, data=data)


# Confirmation ----------------------------------------------------------------------------------


def test_confirm_is_for_the_pledgor_only(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    with pytest.raises(NotPledgor):
        pledges.confirm_pledge(session=session, pledge=pledge, pledgor=bank.organization)
    assert pledge.pledgor_confirmed_at is None


def test_confirm_twice_keeps_the_first_confirmation(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    first = pledge.pledgor_confirmed_at
    entries = len(pledge.history)
    set_today(TODAY + timedelta(days=1))
    pledges.confirm_pledge(session=session, pledge=pledge, pledgor=owner.organization)
    assert first is not None
    assert pledge.pledgor_confirmed_at == first
    assert len(pledge.history) == entries


@pytest.mark.parametrize("status", [PledgeStatus.registered, PledgeStatus.refused])
def test_confirm_needs_an_application(
    session: Session, owner: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        pledges.confirm_pledge(session=session, pledge=pledge, pledgor=owner.organization)


# Registration ----------------------------------------------------------------------------------


def test_register_assigns_number_and_date_and_claims_every_patent(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(status=PledgeStatus.applied, patents=covered)
    day = TODAY + timedelta(days=3)
    set_today(day)
    admin = platform(session)
    pledges.register_pledge(session=session, pledge=pledge, admin=admin)
    session.expire_all()
    assert pledge.status is PledgeStatus.registered
    assert pledge.registered_date == day
    assert pledge.registration_number == f"ZL2026{pledge.id:08d}"
    assert [p.active_pledge_id for p in covered] == [pledge.id, pledge.id]
    assert (pledge.history[-1].status, pledge.history[-1].actor_organization_id) == (
        PledgeStatus.registered,
        admin.id,
    )


def test_register_needs_the_pledgors_confirmation(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    with pytest.raises(PledgeNotConfirmed):
        pledges.register_pledge(session=session, pledge=pledge, admin=platform(session))
    assert pledge.status is PledgeStatus.applied


@pytest.mark.parametrize(
    "status", [PledgeStatus.registered, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_register_needs_an_application(
    session: Session, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    with pytest.raises(PledgeWrongState):
        pledges.register_pledge(session=session, pledge=pledge, admin=platform(session))


def test_register_checks_the_rules_again_on_the_day_of_registration(
    session: Session, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    patent = factories.patent(session, owner.organization, fee_paid_until=TODAY + timedelta(5))
    pledge = pledge_of(status=PledgeStatus.applied, patents=[patent])
    set_today(TODAY + timedelta(days=6))
    with pytest.raises(PledgeRefused) as refused:
        pledges.register_pledge(session=session, pledge=pledge, admin=platform(session))
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
    pledges.register_pledge(session=session, pledge=first, admin=platform(session))
    with pytest.raises(PledgeRefused) as refused:
        pledges.register_pledge(session=session, pledge=second, admin=platform(session))
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
        pledges.register_pledge(session=session, pledge=first, admin=platform(session))
        assert (
            pledges.pledge_issues(
                stale.patents[0],
                pledgor_id=owner.id,
                debt_end_date=stale.debt_end_date,
                today=TODAY,
                pledge_id=stale.id,
            )
            == []
        )
        with pytest.raises(PledgeRefused) as refused:
            pledges.register_pledge(session=concurrent, pledge=stale, admin=platform(session))
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
        pledges.register_pledge(session=session, pledge=pledge, admin=platform(session))
        with pytest.raises(PledgeWrongState):
            pledges.register_pledge(session=concurrent, pledge=stale, admin=platform(session))


# Refusal ---------------------------------------------------------------------------------------


def test_refuse_records_the_reason_codes(session: Session, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    pledges.refuse_pledge(
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
        pledges.refuse_pledge(
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
        pledges.refuse_pledge(
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
    pledges.amend_pledge(
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
    pledges.amend_pledge(
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
            pledges.amend_pledge(
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
        pledges.amend_pledge(
            session=session, pledge=pledge, pledgee=bank.organization, changes=changes
        )
    assert pledge.status is PledgeStatus.registered


def test_amend_refuses_a_debt_running_past_the_patent_term(
    session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    with pytest.raises(PledgeRefused) as refused:
        pledges.amend_pledge(
            session=session,
            pledge=pledge,
            pledgee=bank.organization,
            changes=PledgeUpdate(debt_end_date=TERM_END + timedelta(days=1)),
        )
    assert refused.value.code == "debt_term_exceeds_patent_term"
    pledges.amend_pledge(
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
    pledges.amend_pledge(
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
        pledges.amend_pledge(
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
    pledges.cancel_pledge(
        session=session,
        pledge=pledge,
        actor=bank.organization,
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
    pledges.cancel_pledge(
        session=session,
        pledge=withdrawn,
        actor=bank.organization,
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
        pledges.cancel_pledge(
            session=session,
            pledge=pledge,
            actor=bank.organization,
            cancellation=PledgeCancellation(reason=CancellationReason.waived),
        )


# Consent to open licensing (Civil Code art. 444) -----------------------------------------------


def test_consent_is_recorded_once_per_listing(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    first = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    again = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    assert again.id == first.id
    assert [c.listing_id for c in pledge.consents] == [listing.id]
    assert [c.changes for c in pledge.history].count({"consent_listing_id": listing.id}) == 1


def test_consent_is_for_the_pledgee_only(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    with pytest.raises(NotPledgee):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=other_bank.organization, listing_id=listing.id
        )
    assert pledge.consents == []


@pytest.mark.parametrize(
    "status", [PledgeStatus.applied, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_consent_needs_a_registered_pledge(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    with pytest.raises(PledgeWrongState):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
        )


def test_consent_needs_a_listing_on_a_pledged_patent(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    elsewhere = factories.draft_listing(session, owner.organization)
    assert elsewhere.id is not None
    with pytest.raises(ListingNotOnPledgedPatent):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=bank.organization, listing_id=elsewhere.id
        )


def test_consent_to_a_listing_covering_one_of_several_pledged_patents(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(patents=covered)
    mixed = factories.draft_listing(
        session,
        owner.organization,
        patent_list=[factories.patent(session, owner.organization), covered[1]],
    )
    assert mixed.id is not None
    consent = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=mixed.id
    )
    assert consent.pledge_id == pledge.id


def test_pledges_without_consent(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    free = factories.patent(session, owner.organization)
    first = pledge_of()
    second = pledge_of(pledgee=other_bank)
    covered = [free, first.patents[0], second.patents[0]]
    listing = factories.draft_listing(session, owner.organization, patent_list=covered)
    other_listing = factories.draft_listing(session, owner.organization, patent_list=covered)
    assert listing.id is not None
    assert other_listing.id is not None

    def blocked(listing_id: int) -> list[int | None]:
        return [p.id for p in pledges.pledges_without_consent(session, covered, listing_id)]

    assert pledges.pledges_without_consent(session, [free], listing.id) == []
    assert blocked(listing.id) == [first.patents[0].id, second.patents[0].id]
    pledges.consent_to_listing(
        session=session, pledge=first, pledgee=bank.organization, listing_id=listing.id
    )
    assert blocked(listing.id) == [second.patents[0].id]
    # A consent covers the listing it names, not another on the same patents.
    assert blocked(other_listing.id) == [first.patents[0].id, second.patents[0].id]


def test_publishing_a_listing_on_a_pledged_patent_needs_the_consent(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    blockers = declarations.publication_blockers(session=session, listing=listing)
    assert [(b.code, b.patent_id) for b in blockers] == [
        ("pledgee_consent_missing", pledge.patents[0].id)
    ]
    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    assert declarations.publication_blockers(session=session, listing=listing) == []


def test_active_pledge_ids_are_the_registered_pledges_of_the_patents(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    first = pledge_of()
    second = pledge_of(pledgee=other_bank)
    applied = pledge_of(status=PledgeStatus.applied)
    covered = [*second.patents, *first.patents, *applied.patents, *first.patents]
    assert pledges.active_pledge_ids(covered) == sorted([first.id or 0, second.id or 0])


# Who sees what ---------------------------------------------------------------------------------


def test_get_visible_pledge_hides_applications_from_other_banks(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    registered = pledge_of()
    applied = pledge_of(status=PledgeStatus.applied)

    def visible(pledge: Pledge, party: Party, *, is_bank: bool) -> bool:
        assert pledge.id is not None
        try:
            pledges.get_visible_pledge(
                session=session,
                pledge_id=pledge.id,
                organization_id=party.id,
                is_admin=False,
                is_bank=is_bank,
            )
        except PledgeNotFound:
            return False
        return True

    assert visible(applied, bank, is_bank=True)
    assert visible(applied, owner, is_bank=False)
    assert not visible(applied, other_bank, is_bank=True)
    assert visible(registered, other_bank, is_bank=True)
    # Only banks read the register.
    assert not visible(registered, other_bank, is_bank=False)


def test_list_pledges_shows_other_banks_only_the_register(
    session: Session, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    registered = pledge_of()
    pledge_of(status=PledgeStatus.applied)
    pledge_of(status=PledgeStatus.refused)
    withdrawn = pledge_of(status=PledgeStatus.cancelled, confirmed=False)
    found, _ = pledges.list_pledges(
        session=session,
        params=PageParams(limit=50),
        organization_id=other_bank.id,
        is_admin=False,
        is_bank=True,
    )
    assert [p.id for p in found] == [registered.id]
    assert withdrawn.registration_number is None


def test_to_view_for_the_register_leaves_private_fields_out(pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.changed)
    view = pledges.to_view(pledge, full=False)
    assert view.visibility == "register"
    assert view.registration_number == pledge.registration_number
    private = {
        "debtor_name",
        "secured_amount",
        "currency",
        "debt_start_date",
        "debt_end_date",
        "guarantee_scope",
        "valuation",
        "pledgor_confirmed_at",
        "refusal_reasons",
        "cancellation_reason",
        "history",
        "consents",
        "created_at",
    }
    assert {name for name in private if getattr(view, name) is not None} == set()
    full = pledges.to_view(pledge, full=True)
    assert {name for name in private if getattr(full, name) is None} == {
        "guarantee_scope",
        "cancellation_reason",
    }
