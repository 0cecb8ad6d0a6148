"""Licensing rules, called directly on the service: no HTTP."""

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.licensing import service as licensing
from marketplace.licensing.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    LicenseAlreadyActive,
    LicenseNotActive,
    LicenseNotFound,
    OnlyLicenseeTerminates,
    PatentNotInForce,
    PatentSuspended,
    SelfLicense,
)
from marketplace.licensing.models.idempotency import IdempotencyRecord
from marketplace.licensing.models.licenses import License, LicenseStatus, PartyRole
from marketplace.listings.errors import ListingNotPublished, OfferNotFound
from marketplace.listings.models import Listing, Offer
from marketplace.pagination import PageParams
from marketplace.patents import service as patents
from marketplace.patents.models import (
    EncumbranceKind,
    LegalStatus,
    PatentEncumbranceCreate,
    PatentUpdate,
)
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.factories import NewParty, Party
from tests.statements import counting_statements


def accept(
    session: Session, offer: Offer, party: Party, key: str = "key-1"
) -> tuple[License, bool]:
    assert offer.id is not None
    return licensing.accept_offer(
        session=session,
        offer_id=offer.id,
        licensee=party.organization,
        user=party.user,
        idempotency_key=key,
    )


def count_licenses(session: Session, offer: Offer) -> int:
    return len(session.scalars(select(License).where(License.offer_id == offer.id)).all())


# accept_offer ----------------------------------------------------------------------------------


def test_accept_offer_creates_and_persists_a_license(
    session: Session, listing: Listing, offer: Offer, licensor: Party, licensee: Party
) -> None:
    created_license, created = accept(session, offer, licensee)
    session.expunge_all()

    assert created is True
    license_ = session.get(License, created_license.id)
    assert license_ is not None
    assert license_.status is LicenseStatus.active
    assert (license_.licensor_id, license_.licensee_id) == (licensor.id, licensee.id)
    assert license_.listing_id == listing.id
    assert license_.accepted_by_user_id == licensee.user.id
    assert license_.license_number == f"LIC2026{license_.id:08d}"
    assert license_.effective_date == date(2026, 6, 15)
    assert license_.expires_on == date(2029, 6, 14)
    assert license_.recordation_deadline == date(2026, 9, 15)
    record = session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.organization_id == licensee.id)
    )
    assert record is not None
    assert (record.key, record.license_id) == ("key-1", license_.id)


def test_the_key_claim_reads_the_license_held_and_takes_the_new_ones_id(
    session: Session, offer: Offer, licensee: Party
) -> None:
    session.flush()
    with counting_statements(session) as statements:
        license_, _ = accept(session, offer, licensee)

    sent = [" ".join(statement.split()).upper() for statement in statements]
    # No statement of its own for the license held under the offer, nor for the new id.
    assert not [s for s in sent if s.startswith("SELECT LICENSE.ID")]
    assert not [s for s in sent if "NEXTVAL" in s and not s.startswith("INSERT")]
    key_updates = [s for s in sent if s.startswith("UPDATE IDEMPOTENCY_RECORD")]
    if session.get_bind().dialect.name == "postgresql":
        # The record named the license from the claim on: nothing to update afterwards.
        assert key_updates == []
    else:
        assert len(key_updates) == 1  # SQLite numbers the license when it is inserted
    record = session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.organization_id == licensee.id)
    )
    assert record is not None
    assert record.license_id == license_.id


def test_a_key_claimed_by_an_acceptance_not_yet_done_is_in_flight(
    session: Session, offer: Offer, licensee: Party
) -> None:
    assert offer.id is not None
    assert licensee.organization.id is not None
    claimed = licensing.claim_offer_key(
        session, offer_id=offer.id, organization_id=licensee.organization.id, key="k"
    )
    assert isinstance(claimed, licensing.ClaimedKey)

    # The same key again before that acceptance gave its license (on PostgreSQL the record
    # names the license's id already, though the license is not there yet).
    with pytest.raises(IdempotencyKeyInFlight):
        licensing.claim_offer_key(
            session, offer_id=offer.id, organization_id=licensee.organization.id, key="k"
        )


def test_a_licensee_holding_a_license_is_refused_another_under_the_offer(
    session: Session, offer: Offer, licensee: Party
) -> None:
    held, _ = accept(session, offer, licensee, key="first")

    with pytest.raises(LicenseAlreadyActive) as refused:
        accept(session, offer, licensee, key="second")

    assert held.id is not None
    assert str(held.id) in str(refused.value)


def test_replay_returns_the_first_license_and_created_false(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee, key="same")

    replayed, created = accept(session, offer, licensee, key="same")

    assert created is False
    assert replayed.id == first.id
    assert count_licenses(session, offer) == 1


def test_replay_returns_the_license_even_after_withdrawal(
    session: Session, listing: Listing, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee, key="same")
    factories.withdraw(session, listing)

    replayed, created = accept(session, offer, licensee, key="same")

    assert (replayed.id, created) == (first.id, False)


def test_key_reused_for_another_offer_is_refused(
    session: Session, licensor: Party, offer: Offer, licensee: Party
) -> None:
    _, other_offer = factories.published_listing(session, licensor.organization)
    accept(session, offer, licensee, key="same")

    with pytest.raises(IdempotencyKeyReused):
        accept(session, other_offer, licensee, key="same")
    assert count_licenses(session, other_offer) == 0


def test_keys_are_scoped_to_the_licensee_organization(
    session: Session, offer: Offer, new_party: NewParty
) -> None:
    first, first_created = accept(session, offer, new_party(), key="shared-key")
    second, second_created = accept(session, offer, new_party(), key="shared-key")

    assert (first_created, second_created) == (True, True)
    assert first.id != second.id
    assert first.license_number != second.license_number


def test_second_active_license_for_the_same_offer_is_refused(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee, key="one")

    with pytest.raises(LicenseAlreadyActive) as raised:
        accept(session, offer, licensee, key="two")
    assert raised.value.extra["license_id"] == first.id


def test_licensor_cannot_license_its_own_declaration(session: Session, new_party: NewParty) -> None:
    company = new_party(kind=OrganizationKind.enterprise)
    _, own_offer = factories.published_listing(session, company.organization)

    with pytest.raises(SelfLicense):
        accept(session, own_offer, company)


@pytest.mark.parametrize("end", ["withdraw", "lapse"])
def test_ended_declaration_cannot_be_accepted(
    session: Session, listing: Listing, offer: Offer, licensee: Party, end: str
) -> None:
    if end == "withdraw":
        factories.withdraw(session, listing)
    else:
        # Through the listings service, so the declaration lapses with the patent.
        patent_workflows.update_patent(
            session=session,
            patent=listing.patents[0],
            changes=PatentUpdate(legal_status=LegalStatus.invalidated),
        )

    with pytest.raises(ListingNotPublished):
        accept(session, offer, licensee)


def test_offer_of_a_draft_does_not_exist_for_another_organization(
    session: Session, licensor: Party, licensee: Party
) -> None:
    draft = factories.draft_listing(session, licensor.organization)

    with pytest.raises(OfferNotFound):
        accept(session, draft.offers[0], licensee)


def test_unknown_offer_does_not_exist(session: Session, licensee: Party) -> None:
    with pytest.raises(OfferNotFound):
        licensing.accept_offer(
            session=session,
            offer_id=2**31 - 1,
            licensee=licensee.organization,
            user=None,
            idempotency_key="k",
        )


def test_lapsed_patent_refuses_acceptance(
    session: Session, listing: Listing, offer: Offer, licensee: Party
) -> None:
    patents.update_patent(
        session=session,
        patent=listing.patents[0],
        changes=PatentUpdate(legal_status=LegalStatus.lapsed),
    )

    with pytest.raises(PatentNotInForce) as raised:
        accept(session, offer, licensee)
    assert raised.value.extra["application_number"] == listing.patents[0].application_number


@pytest.mark.parametrize(
    "kind", [EncumbranceKind.court_preservation, EncumbranceKind.ownership_dispute]
)
def test_a_hold_that_arose_after_publication_refuses_acceptance(
    session: Session, listing: Listing, offer: Offer, licensee: Party, kind: EncumbranceKind
) -> None:
    patent = listing.patents[0]
    hold = patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(kind=kind, starts_on=date(2026, 6, 1)),
    )
    with pytest.raises(PatentSuspended):
        accept(session, offer, licensee, key="held")

    patents.release_encumbrance(session=session, encumbrance=hold)
    session.refresh(patent, attribute_names=["encumbrances"])
    released, created = accept(session, offer, licensee, key="released")
    assert created
    assert released.status is LicenseStatus.active


def test_annual_fee_in_arrears_refuses_acceptance(
    session: Session,
    offer: Offer,
    new_party: NewParty,
    set_today: Callable[[date], None],
) -> None:
    # Paid up to 2027-01-01; the six months of grace end on 2027-07-01.
    set_today(date(2027, 7, 1))
    in_grace, _ = accept(session, offer, new_party(), key="grace")
    assert in_grace.status is LicenseStatus.active

    set_today(date(2027, 7, 2))
    with pytest.raises(PatentNotInForce):
        accept(session, offer, new_party(), key="arrears")


def test_license_term_is_capped_at_the_earliest_patent_term_end(
    session: Session, licensor: Party, licensee: Party
) -> None:
    lasting = factories.patent(session, licensor.organization, filing_date=date(2020, 3, 1))
    ending = factories.patent(session, licensor.organization, filing_date=date(2006, 7, 1))
    _, offer = factories.published_listing(
        session,
        licensor.organization,
        patent_list=[lasting, ending],
        offers=[factories.offer_data(term_years=1)],
    )

    license_, _ = accept(session, offer, licensee)

    assert license_.expires_on == date(2026, 6, 30)


# Terms and their digest ------------------------------------------------------------------------


def test_build_terms_writes_amounts_as_decimal_strings_and_dates_iso(
    session: Session, licensor: Party, licensee: Party
) -> None:
    listing, offer = factories.published_listing(
        session,
        licensor.organization,
        offers=[
            factories.offer_data(
                royalty_type="per_unit",
                per_unit_fee=Decimal("12.5"),
                minimum_annual=Decimal("1000"),
                field_of_use="battery packs",
                currency="USD",
            )
        ],
    )

    terms = licensing.build_terms(
        listing=listing,
        offer=offer,
        licensor=licensor.organization,
        licensee=licensee.organization,
        effective=date(2026, 6, 15),
        expires_on=date(2029, 6, 14),
    )

    assert terms["offer"] == {
        "offer_id": offer.id,
        "royalty_type": "per_unit",
        "upfront_fee": None,
        "royalty_rate_percent": None,
        "per_unit_fee": "12.50",
        "minimum_annual": "1000.00",
        "currency": "USD",
        "term_years": 3,
        "field_of_use": "battery packs",
        "territory": "mainland China",
    }
    assert terms["licensor"]["id"] == licensor.id
    assert terms["licensee"]["id"] == licensee.id
    assert terms["declaration"]["announcement_date"] == "2026-06-15"
    assert (terms["effective_date"], terms["expires_on"]) == ("2026-06-15", "2029-06-14")
    assert (terms["exclusivity"], terms["sublicensing_allowed"]) == ("non_exclusive", False)
    # Plain JSON: it must serialize without a custom encoder.
    json.dumps(terms)


def test_terms_digest_is_sha256_of_the_canonical_form() -> None:
    terms = {"licensee": {"name": "宁波电池有限公司"}, "offer": {"upfront_fee": "50000.00"}}
    independent = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert licensing.terms_digest(terms) == hashlib.sha256(independent.encode()).hexdigest()


def test_terms_digest_ignores_key_order_but_not_values() -> None:
    terms = {"a": "1", "b": {"c": "2", "d": "3"}}
    reordered = {"b": {"d": "3", "c": "2"}, "a": "1"}
    changed = {"a": "1", "b": {"c": "2", "d": "4"}}

    assert licensing.terms_digest(terms) == licensing.terms_digest(reordered)
    assert licensing.terms_digest(terms) != licensing.terms_digest(changed)


def test_stored_terms_still_match_their_digest_after_a_database_round_trip(
    session: Session, offer: Offer, new_party: NewParty
) -> None:
    license_, _ = accept(session, offer, new_party(name="深圳新能源股份有限公司"))
    session.flush()
    license_id = license_.id
    session.expunge_all()

    reloaded = session.get(License, license_id)

    assert reloaded is not None
    assert reloaded.terms["licensee"]["name"] == "深圳新能源股份有限公司"
    assert licensing.terms_digest(reloaded.terms) == reloaded.terms_sha256


def test_later_patent_edit_does_not_change_granted_terms(
    session: Session, listing: Listing, offer: Offer, licensee: Party
) -> None:
    license_, _ = accept(session, offer, licensee)
    digest = license_.terms_sha256
    original_title = listing.patents[0].title

    patent_workflows.update_patent(
        session=session, patent=listing.patents[0], changes=PatentUpdate(title="New title")
    )
    session.expire_all()

    reloaded = session.get(License, license_.id)
    assert reloaded is not None
    assert reloaded.terms["patents"][0]["title"] == original_title
    assert reloaded.terms_sha256 == digest == licensing.terms_digest(reloaded.terms)


# Reading ---------------------------------------------------------------------------------------


def test_get_license_hides_it_from_third_parties(
    session: Session, offer: Offer, licensor: Party, licensee: Party, new_party: NewParty
) -> None:
    license_, _ = accept(session, offer, licensee)
    assert license_.id is not None

    for party in (licensor, licensee):
        found = licensing.get_license(
            session=session, license_id=license_.id, caller=factories.caller(party.organization)
        )
        assert found.id == license_.id
    with pytest.raises(LicenseNotFound):
        licensing.get_license(
            session=session,
            license_id=license_.id,
            caller=factories.caller(new_party().organization),
        )


def test_list_licenses_by_role(
    session: Session, offer: Offer, licensee: Party, new_party: NewParty
) -> None:
    _, its_offer = factories.published_listing(session, licensee.organization)
    held, _ = accept(session, offer, licensee)
    granted, _ = accept(session, its_offer, new_party())

    def ids(role: PartyRole | None) -> set[int | None]:
        items, _ = licensing.list_licenses(
            session=session, organization_id=licensee.id, params=PageParams(), role=role
        )
        return {item.id for item in items}

    assert ids(None) == {held.id, granted.id}
    assert ids(PartyRole.licensee) == {held.id}
    assert ids(PartyRole.licensor) == {granted.id}


# Terminating -----------------------------------------------------------------------------------


def test_licensee_terminates_with_time_and_reason(
    session: Session, offer: Offer, licensee: Party
) -> None:
    license_, _ = accept(session, offer, licensee)

    ended = licensing.terminate_license(
        session=session, license_=license_, organization_id=licensee.id, reason="Plant closed"
    )
    session.expire_all()

    stored = session.get(License, ended.id)
    assert stored is not None
    assert stored.status is LicenseStatus.terminated
    assert stored.terminated_at == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    assert stored.termination_reason == "Plant closed"


def test_licensor_cannot_terminate(
    session: Session, offer: Offer, licensor: Party, licensee: Party
) -> None:
    license_, _ = accept(session, offer, licensee)

    with pytest.raises(OnlyLicenseeTerminates):
        licensing.terminate_license(
            session=session, license_=license_, organization_id=licensor.id, reason=None
        )
    assert license_.status is LicenseStatus.active


def test_terminating_twice_is_refused(session: Session, offer: Offer, licensee: Party) -> None:
    license_, _ = accept(session, offer, licensee)
    licensing.terminate_license(
        session=session, license_=license_, organization_id=licensee.id, reason=None
    )

    with pytest.raises(LicenseNotActive):
        licensing.terminate_license(
            session=session, license_=license_, organization_id=licensee.id, reason="again"
        )
    assert license_.termination_reason is None


def test_new_license_after_termination_is_a_fresh_row(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee, key="first")
    licensing.terminate_license(
        session=session, license_=first, organization_id=licensee.id, reason=None
    )

    second, created = accept(session, offer, licensee, key="second")

    assert created is True
    assert second.id != first.id
    assert first.status is LicenseStatus.terminated


# Invariants the database holds -----------------------------------------------------------------


def test_database_refuses_two_active_licenses_per_licensee_and_offer(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee)
    duplicate = License.model_validate(
        first.model_dump(exclude={"id", "license_number", "created_at"})
    )

    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(duplicate)


def test_database_allows_a_terminated_license_beside_an_active_one(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee)
    ended = License.model_validate(
        first.model_dump(exclude={"id", "license_number", "created_at"})
        | {"status": LicenseStatus.terminated}
    )

    session.add(ended)
    session.flush()

    statuses = session.scalars(
        select(License.status).where(col(License.licensee_id) == licensee.id)
    ).all()
    assert sorted(statuses) == [LicenseStatus.active, LicenseStatus.terminated]


def test_database_refuses_a_license_to_the_licensor_itself(
    session: Session, offer: Offer, licensee: Party
) -> None:
    first, _ = accept(session, offer, licensee)
    to_itself = License.model_validate(
        first.model_dump(exclude={"id", "license_number", "created_at"})
        | {"licensee_id": first.licensor_id}
    )

    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(to_itself)


def test_a_license_past_its_term_expires_and_the_licensee_may_take_a_new_one(
    session: Session, offer: Offer, licensee: Party, set_today: Callable[[date], None]
) -> None:
    for patent in session.get_one(Listing, offer.listing_id).patents:
        # Fees paid years ahead, so that only the license's own term is in play.
        patents.update_patent(
            session=session, patent=patent, changes=PatentUpdate(fee_paid_until=date(2035, 1, 1))
        )
    first, _ = accept(session, offer, licensee, key="first")
    set_today(first.expires_on)
    with pytest.raises(LicenseAlreadyActive):
        accept(session, offer, licensee, key="still-running")

    set_today(first.expires_on + timedelta(days=1))
    second, created = accept(session, offer, licensee, key="renewal")
    session.refresh(first)
    assert created
    assert first.status is LicenseStatus.expired
    assert second.status is LicenseStatus.active
    assert second.id != first.id
