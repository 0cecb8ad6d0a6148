"""The pledge rules called directly: every refusal code of ``pledge_issues``."""

from datetime import date, timedelta

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.patents import service as patents
from marketplace.patents.models import (
    CoOwner,
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
)
from marketplace.pledges import rules
from tests import factories
from tests.conftest import TODAY
from tests.factories import NewParty, Party
from tests.pledges.conftest import DEBT_END, TERM_END, MakePledge


def issue_codes(patent: Patent, pledgor: Organization, **kwargs: object) -> list[str]:
    assert pledgor.id is not None
    found = rules.pledge_issues(
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
        (EncumbranceKind.court_preservation, "patent_suspended"),
        (EncumbranceKind.ownership_dispute, "patent_suspended"),
        (EncumbranceKind.invalidation_request, "invalidation_pending"),
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
        "patent_suspended",
    ]


@pytest.mark.parametrize("kind", [EncumbranceKind.exclusive_license, EncumbranceKind.sole_license])
def test_an_exclusive_license_in_force_is_no_ground_for_refusing_a_pledge(
    session: Session, owner: Party, kind: EncumbranceKind
) -> None:
    # The 2021 pledge registration measures do not list it (the declaration rules do).
    patent = factories.patent(session, owner.organization)
    encumber(session, patent, kind)
    assert issue_codes(patent, owner.organization) == []
    assert "exclusive_license_in_force" not in rules.REFUSAL_CODES


def test_a_pending_invalidation_is_no_ground_once_the_parties_proceed(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    encumber(session, patent, EncumbranceKind.invalidation_request, counterparty="Rival Co.")
    assert issue_codes(patent, owner.organization) == ["invalidation_pending"]
    assert issue_codes(patent, owner.organization, proceeds_despite_invalidation=True) == []


def test_a_decided_invalidation_request_is_no_ground(session: Session, owner: Party) -> None:
    patent = factories.patent(session, owner.organization)
    encumber(session, patent, EncumbranceKind.invalidation_request)
    patents.release_encumbrance(session=session, encumbrance=patent.encumbrances[0])
    assert issue_codes(patent, owner.organization) == []


def test_every_co_owner_must_consent(session: Session, owner: Party) -> None:
    patent = factories.patent(
        session,
        owner.organization,
        co_owners=[CoOwner(name="Zhejiang University"), CoOwner(name="Li Wei")],
    )
    assert [item.code for item in rules.co_owner_issues(patent, {"Li Wei"})] == [
        "co_owner_consent_missing"
    ]
    (missing,) = rules.co_owner_issues(patent, set())
    assert "Zhejiang University, Li Wei" in missing.detail
    assert rules.co_owner_issues(patent, {"Li Wei", "Zhejiang University"}) == []


def test_a_patent_without_co_owners_needs_no_consent(session: Session, owner: Party) -> None:
    patent = factories.patent(session, owner.organization)
    assert rules.co_owner_issues(patent, set()) == []
