"""The declaration's own rules, called as services: the office's announcement (number, date,
uniqueness), evaluation-report conclusions, the annual-fee reduction, and withdrawal (request
with reason and co-owners' consent, then the office's announcement)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.listings import withdrawal
from marketplace.listings.errors import (
    AnnouncementDateOutOfRange,
    AnnouncementNumberInUse,
    ConsentDateOutOfRange,
    CoOwnerConsentMissing,
    InvalidAnnouncementNumber,
    ListingNotPublished,
    PublicationRefused,
    UnknownCoOwner,
    WithdrawalAlreadyRequested,
    WithdrawalNotRequested,
)
from marketplace.listings.models import (
    AnnouncementSource,
    CoOwnerConsent,
    FeeReductionBasis,
    ListingStatus,
    WithdrawalAnnouncement,
    WithdrawalRequest,
)
from marketplace.patents import service as patents
from marketplace.patents.models import (
    CoOwner,
    EvaluationConclusion,
    PatentCreate,
    PatentUpdate,
)
from marketplace.workflows import acceptance, declarations
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.factories import TODAY, SetNow


@pytest.fixture
def owner(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


# The office's announcement -----------------------------------------------------------------------


def test_the_announcement_is_recorded_as_entered(session: Session, owner: Organization) -> None:
    listing = factories.draft_listing(session, owner)
    factories.publish(
        session, listing, announcement_number=" kf-2026 / 0042 ", announcement_date=date(2026, 6, 1)
    )
    assert listing.status == ListingStatus.published
    assert listing.announcement_number == "KF-2026/0042"
    assert listing.announcement_date == date(2026, 6, 1)
    assert listing.announcement_source is AnnouncementSource.office


@pytest.mark.parametrize("number", ["KF1", "KF 2026 " + "0" * 30, "KF#2026001"])
def test_a_number_that_is_no_announcement_number_is_refused(
    session: Session, owner: Organization, number: str
) -> None:
    listing = factories.draft_listing(session, owner)
    with pytest.raises(InvalidAnnouncementNumber):
        factories.publish(session, listing, announcement_number=number)
    assert listing.status == ListingStatus.draft


def test_the_number_pattern_is_configurable(
    session: Session, owner: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "announcement_number_pattern", r"^GK\d{8}$")
    with pytest.raises(InvalidAnnouncementNumber):
        factories.publish(session, factories.draft_listing(session, owner))
    listing = factories.draft_listing(session, owner)
    factories.publish(session, listing, announcement_number="gk20260001")
    assert listing.announcement_number == "GK20260001"


def test_china_standard_time_decides_what_is_the_future(
    session: Session, owner: Organization
) -> None:
    # 09:30 UTC is 17:30 in Beijing: the office's today is still the 15th.
    listing = factories.draft_listing(session, owner)
    with pytest.raises(AnnouncementDateOutOfRange):
        factories.publish(session, listing, announcement_date=TODAY + timedelta(days=1))
    factories.publish(session, listing, announcement_date=TODAY)
    assert listing.announcement_date == TODAY


def test_from_16_00_utc_the_office_is_on_the_next_day(
    session: Session, owner: Organization, set_now: SetNow
) -> None:
    # 20:00 UTC on 15 June is 04:00 on 16 June in Beijing.
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    listing = factories.draft_listing(session, owner)
    with pytest.raises(AnnouncementDateOutOfRange):
        factories.publish(session, listing, announcement_date=date(2026, 6, 17))
    factories.publish(session, listing, announcement_date=date(2026, 6, 16))
    assert listing.announcement_date == date(2026, 6, 16)


def test_the_date_is_neither_before_open_licensing_nor_before_the_grant(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(session, owner, grant_date=date(2024, 3, 1))
    listing = factories.draft_listing(session, owner, patent_list=[patent])
    for too_early in (date(2021, 5, 31), date(2024, 2, 29)):
        with pytest.raises(AnnouncementDateOutOfRange):
            factories.publish(session, listing, announcement_date=too_early)
    # A declaration announced before the patentee drafted it here is entered as announced.
    factories.publish(session, listing, announcement_date=date(2024, 3, 1))
    assert listing.announcement_date is not None
    assert listing.announcement_date < listing.created_at.date()


def test_an_announcement_number_belongs_to_one_declaration(
    session: Session, owner: Organization
) -> None:
    first, _ = factories.published_listing(session, owner)
    second = factories.draft_listing(session, owner)
    with pytest.raises(AnnouncementNumberInUse):
        factories.publish(session, second, announcement_number=first.announcement_number)
    assert second.status == ListingStatus.draft
    withdrawn = factories.withdraw(session, first)
    with pytest.raises(AnnouncementNumberInUse):
        factories.publish(
            session, second, announcement_number=withdrawn.withdrawal_announcement_number
        )


def test_the_checks_run_before_the_number_is_taken(session: Session, owner: Organization) -> None:
    listing = factories.draft_listing(session, owner, offers=[])
    with pytest.raises(PublicationRefused) as refused:
        factories.publish(session, listing, announcement_number="KF2026999999")
    assert refused.value.code == "listing_has_no_offers"
    assert listing.announcement_number is None


# Evaluation reports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conclusion", "code"),
    [
        (EvaluationConclusion.does_not_support, "evaluation_report_not_supporting"),
        (EvaluationConclusion.partially_supports, "evaluation_report_not_supporting"),
        (EvaluationConclusion.legacy_unknown, "evaluation_report_conclusion_unknown"),
        (None, "evaluation_report_conclusion_unknown"),
    ],
)
def test_only_a_report_supporting_validity_lets_a_utility_model_be_declared(
    session: Session, owner: Organization, conclusion: EvaluationConclusion | None, code: str
) -> None:
    patent = factories.patent(session, owner, type_digit=2, evaluation_report_ref="PJ-1")
    # Set on the row: legacy_unknown is never accepted as input, only left by the migration.
    patent.evaluation_report_conclusion = conclusion
    listing = factories.draft_listing(session, owner, patent_list=[patent])
    with pytest.raises(PublicationRefused) as refused:
        factories.publish(session, listing)
    assert refused.value.code == code
    patents.update_patent(
        session=session,
        patent=patent,
        changes=PatentUpdate(evaluation_report_conclusion=EvaluationConclusion.supports_validity),
    )
    factories.publish(session, listing)
    assert listing.status == ListingStatus.published


def test_a_design_needs_a_supporting_report_too(session: Session, owner: Organization) -> None:
    design = factories.patent(
        session,
        owner,
        type_digit=3,
        evaluation_report_ref="PJ-3",
        evaluation_report_conclusion=EvaluationConclusion.does_not_support,
    )
    blockers = declarations.publication_blockers(
        session=session, listing=factories.draft_listing(session, owner, patent_list=[design])
    )
    assert [b.code for b in blockers] == ["evaluation_report_not_supporting"]


def test_an_invention_needs_no_report(session: Session, owner: Organization) -> None:
    invention = factories.patent(
        session,
        owner,
        evaluation_report_ref="PJ-4",
        evaluation_report_conclusion=EvaluationConclusion.does_not_support,
    )
    listing = factories.draft_listing(session, owner, patent_list=[invention])
    assert declarations.publication_blockers(session=session, listing=listing) == []


def test_legacy_unknown_is_not_accepted_as_input() -> None:
    with pytest.raises(ValueError, match="legacy_unknown"):
        PatentUpdate(evaluation_report_conclusion=EvaluationConclusion.legacy_unknown)
    with pytest.raises(ValueError, match="legacy_unknown"):
        PatentCreate.model_validate(
            {
                "application_number": factories.application_number(2),
                "title": "A utility model",
                "filing_date": "2020-03-01",
                "evaluation_report_ref": "PJ-5",
                "evaluation_report_conclusion": "legacy_unknown",
            }
        )


def test_a_new_report_drops_the_old_reports_conclusion(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(session, owner, type_digit=2, evaluation_report_ref="PJ-6")
    assert patent.evaluation_report_conclusion is EvaluationConclusion.supports_validity
    patents.update_patent(
        session=session, patent=patent, changes=PatentUpdate(evaluation_report_ref="PJ-7")
    )
    assert patent.evaluation_report_conclusion is None
    patents.update_patent(
        session=session, patent=patent, changes=PatentUpdate(title="Renamed, same report")
    )
    assert patent.evaluation_report_ref == "PJ-7"


# The annual-fee reduction ----------------------------------------------------------------------


def test_the_open_license_reduction_applies_to_a_patent_without_its_own(
    session: Session, owner: Organization
) -> None:
    listing, _ = factories.published_listing(session, owner)
    assert listing.annual_fee_reduction_percent == Decimal("15.00")
    [reduction] = listing.fee_reductions
    assert reduction["percent"] == "15.00"
    assert reduction["basis"] == FeeReductionBasis.open_license
    assert "no reduction of its own" in reduction["reason"]


def test_the_more_favourable_reduction_applies_never_both(
    session: Session, owner: Organization
) -> None:
    small = factories.patent(session, owner, fee_reduction_percent=Decimal("10"))
    large = factories.patent(session, owner, fee_reduction_percent=Decimal("85"))
    bundle, _ = factories.published_listing(session, owner, patent_list=[small, large])
    by_patent = {item["patent_id"]: item for item in bundle.fee_reductions}
    assert (by_patent[small.id]["percent"], by_patent[small.id]["basis"]) == (
        "15.00",
        "open_license",
    )
    assert (by_patent[large.id]["percent"], by_patent[large.id]["basis"]) == (
        "85.00",
        "patent_fee_reduction",
    )
    assert "do not combine" in by_patent[large.id]["reason"]
    # The open-license reduction still applies to one of its patents.
    assert bundle.annual_fee_reduction_percent == Decimal("15.00")


def test_a_listing_whose_patents_all_have_better_reductions_shows_no_open_license_one(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(session, owner, fee_reduction_percent=Decimal("70"))
    listing, _ = factories.published_listing(session, owner, patent_list=[patent])
    assert listing.annual_fee_reduction_percent is None
    assert [item["basis"] for item in listing.fee_reductions] == ["patent_fee_reduction"]


# Withdrawal ------------------------------------------------------------------------------------


def co_owned(*names: str) -> list[CoOwner]:
    return [CoOwner(name=name, open_license_consent=True) for name in names]


def consent(name: str, on: date = TODAY) -> CoOwnerConsent:
    return CoOwnerConsent(name=name, consented_on=on, document_ref=f"{name} letter")


def test_a_withdrawal_request_leaves_the_declaration_in_force_and_acceptable(
    session: Session, owner: Organization
) -> None:
    listing, offer = factories.published_listing(session, owner)
    declarations.request_withdrawal(
        session=session, listing=listing, request=WithdrawalRequest(reason="  Sold the patent ")
    )
    assert listing.status == ListingStatus.published
    assert listing.withdrawal_reason == "Sold the patent"
    assert listing.withdrawal_requested_at is not None
    assert listing.patents[0].open_license_listing_id == listing.id
    licensee = factories.organization(session)
    accepted = acceptance.accept_offer(
        session=session, offer_id=offer.id or 0, licensee=licensee, user=None, idempotency_key="k"
    )
    license_ = accepted.license
    assert accepted.created
    assert license_.listing_id == listing.id


def test_licenses_already_granted_stand_after_the_withdrawal(
    session: Session, owner: Organization
) -> None:
    listing, offer = factories.published_listing(session, owner)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=factories.organization(session),
        user=None,
        idempotency_key="k",
    ).license
    status_before, terms_before = license_.status, dict(license_.terms)
    factories.withdraw(session, listing)
    session.refresh(license_)
    assert listing.status == ListingStatus.withdrawn
    assert license_.status == status_before
    assert license_.terms == terms_before


def test_every_co_owner_must_consent_to_the_withdrawal(
    session: Session, owner: Organization
) -> None:
    first = factories.patent(session, owner, co_owners=co_owned("Fund A"))
    second = factories.patent(session, owner, co_owners=co_owned("Fund A", "Institute B"))
    listing, _ = factories.published_listing(session, owner, patent_list=[first, second])
    with pytest.raises(CoOwnerConsentMissing) as missing:
        withdrawal.request_withdrawal(
            session=session,
            listing=listing,
            request=WithdrawalRequest(reason="r", co_owner_consents=[consent("Fund A")]),
        )
    assert missing.value.extra["missing"] == ["Institute B"]
    with pytest.raises(UnknownCoOwner):
        withdrawal.request_withdrawal(
            session=session,
            listing=listing,
            request=WithdrawalRequest(
                reason="r",
                co_owner_consents=[consent("Fund A"), consent("Institute B"), consent("Bank C")],
            ),
        )
    with pytest.raises(UnknownCoOwner):
        withdrawal.request_withdrawal(
            session=session,
            listing=listing,
            request=WithdrawalRequest(
                reason="r",
                co_owner_consents=[consent("Fund A"), consent("Fund A"), consent("Institute B")],
            ),
        )
    with pytest.raises(ConsentDateOutOfRange):
        withdrawal.request_withdrawal(
            session=session,
            listing=listing,
            request=WithdrawalRequest(
                reason="r",
                co_owner_consents=[
                    consent("Fund A"),
                    consent("Institute B", on=TODAY + timedelta(days=2)),
                ],
            ),
        )
    assert listing.withdrawal_requested_at is None
    withdrawal.request_withdrawal(
        session=session,
        listing=listing,
        request=WithdrawalRequest(
            reason="r", co_owner_consents=[consent("Institute B"), consent("Fund A")]
        ),
    )
    assert [item["name"] for item in listing.withdrawal_consents] == ["Institute B", "Fund A"]
    assert listing.withdrawal_consents[0]["consented_on"] == TODAY.isoformat()


def test_a_reason_is_required() -> None:
    with pytest.raises(ValueError, match="reason"):
        WithdrawalRequest(reason="   ")
    with pytest.raises(ValueError, match="reason"):
        WithdrawalRequest.model_validate({})


def test_withdrawal_is_requested_once_and_only_of_a_declaration_in_force(
    session: Session, owner: Organization
) -> None:
    with pytest.raises(ListingNotPublished):
        withdrawal.request_withdrawal(
            session=session,
            listing=factories.draft_listing(session, owner),
            request=WithdrawalRequest(reason="r"),
        )
    listing, _ = factories.published_listing(session, owner)
    withdrawal.request_withdrawal(
        session=session, listing=listing, request=WithdrawalRequest(reason="r")
    )
    with pytest.raises(WithdrawalAlreadyRequested):
        withdrawal.request_withdrawal(
            session=session, listing=listing, request=WithdrawalRequest(reason="r")
        )


def announced(number: str = "KFCX2026000001", on: date = TODAY) -> WithdrawalAnnouncement:
    return WithdrawalAnnouncement(announcement_number=number, announcement_date=on)


def test_the_office_announcement_ends_the_declaration(
    session: Session, owner: Organization
) -> None:
    listing, _ = factories.published_listing(session, owner)
    with pytest.raises(WithdrawalNotRequested):
        declarations.record_withdrawal_announcement(
            session=session, listing=listing, announcement=announced()
        )
    declarations.request_withdrawal(
        session=session, listing=listing, request=WithdrawalRequest(reason="r")
    )
    for refused in (announced(on=TODAY + timedelta(days=1)), announced(on=TODAY.replace(day=14))):
        with pytest.raises(AnnouncementDateOutOfRange):
            declarations.record_withdrawal_announcement(
                session=session, listing=listing, announcement=refused
            )
    with pytest.raises(InvalidAnnouncementNumber):
        declarations.record_withdrawal_announcement(
            session=session, listing=listing, announcement=announced("X")
        )
    with pytest.raises(AnnouncementNumberInUse):
        declarations.record_withdrawal_announcement(
            session=session,
            listing=listing,
            announcement=announced(listing.announcement_number or ""),
        )
    assert listing.status == ListingStatus.published
    declarations.record_withdrawal_announcement(
        session=session, listing=listing, announcement=announced("kfcx 2026 000001")
    )
    assert factories.reread(session, listing).status == ListingStatus.withdrawn
    assert listing.withdrawal_announcement_number == "KFCX2026000001"
    assert listing.withdrawal_announcement_date == TODAY
    assert listing.withdrawn_at is not None
    assert listing.patents[0].open_license_listing_id is None
    with pytest.raises(ListingNotPublished):
        declarations.record_withdrawal_announcement(
            session=session, listing=listing, announcement=announced("KFCX2026000002")
        )


def test_a_fee_reduction_entered_while_declared_is_recorded_anew(
    session: Session, owner: Organization
) -> None:
    listing, _ = factories.published_listing(session, owner)
    patent_workflows.update_patent(
        session=session,
        patent=listing.patents[0],
        changes=PatentUpdate(fee_reduction_percent=Decimal("85")),
    )
    session.flush()
    session.refresh(listing)
    assert listing.annual_fee_reduction_percent is None
    assert [(r["percent"], r["basis"]) for r in listing.fee_reductions] == [
        ("85.00", "patent_fee_reduction")
    ]
