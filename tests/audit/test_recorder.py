"""Every change of an audited model is recorded, whichever way a service makes it, and only
what is committed."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace.accounts import service as accounts
from marketplace.accounts.errors import OrganizationNotPending
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.audit import service as audit
from marketplace.audit.chain import Actor
from marketplace.audit.models import AuditEvent, AuditEventParty
from marketplace.audit.recorder import UnauditableStatement, act_as
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings import service as listings
from marketplace.listings.models import Listing, OfferUpdate
from marketplace.workflows import acceptance
from tests import factories


def entries(session: Session, **where: Any) -> list[AuditEvent]:
    statement = select(AuditEvent).order_by(col(AuditEvent.id))
    for key, value in where.items():
        statement = statement.where(getattr(AuditEvent, key) == value)
    return list(session.scalars(statement).all())


def parties(session: Session, event: AuditEvent) -> list[int]:
    return sorted(
        session.scalars(
            select(AuditEventParty.organization_id).where(col(AuditEventParty.event_id) == event.id)
        ).all()
    )


def test_changes_are_chained_at_commit_with_old_and_new_values(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    listing = factories.draft_listing(session, owner)
    # Nothing is chained before the commit.
    assert entries(session) == []
    session.commit()

    created = entries(session, object_type="listing", object_id=listing.id)
    assert [entry.action for entry in created] == ["created"]
    assert created[0].changes["status"] == [None, "draft"]
    assert created[0].changes["owner_id"] == [None, owner.id]
    assert parties(session, created[0]) == [owner.id]
    assert created[0].actor == "system"

    factories.publish(session, listing)
    session.commit()

    published = entries(session, object_type="listing", object_id=listing.id)[-1]
    # Named after the state it moved to; the guarded bulk UPDATE and the mirrored attribute
    # make one entry, with the state before the transaction.
    assert published.action == "published"
    assert published.changes["status"] == ["draft", "published"]
    assert published.changes["announcement_number"][0] is None
    assert audit.verify_chain(session=session).ok


def test_an_offer_belongs_to_its_listing_owner(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    listing = factories.draft_listing(session, owner)
    offer = listing.offers[0]
    session.commit()
    listings.update_offer(
        session=session, listing=listing, offer=offer, changes=OfferUpdate(term_years=5)
    )
    session.commit()

    offer_entries = entries(session, object_type="offer", object_id=offer.id)
    assert [entry.action for entry in offer_entries] == ["created", "updated"]
    assert offer_entries[1].changes["term_years"] == [3, 5]
    assert all(parties(session, entry) == [owner.id] for entry in offer_entries)


def test_a_bulk_transition_records_old_and_new_and_its_parties(session: Session) -> None:
    organization = factories.organization(session, verified=False)
    session.commit()

    accounts.decide_verification(session=session, organization=organization, approve=True)
    session.commit()

    [decided] = entries(session, object_type="organization", action="verified")
    assert decided.object_id == organization.id
    assert decided.changes["verification"] == ["pending", "verified"]
    assert decided.changes["verified_at"][0] is None
    assert parties(session, decided) == [organization.id]


def test_a_bulk_change_of_rows_not_loaded_is_recorded_row_by_row(
    session: Session, set_today: Any
) -> None:
    # A running royalty: its licenses are in force on notice (nothing to pay first).
    listing, offer = factories.published_listing(
        session, offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3.5"))]
    )
    licensees = [factories.member(session) for _ in range(2)]
    issued = [
        acceptance.accept_offer(
            session=session,
            offer_id=offer.id or 0,
            licensee=session.get_one(Organization, licensee.organization_id),
            user=licensee,
            idempotency_key=f"key-{index}",
        ).license
        for index, licensee in enumerate(licensees)
    ]
    session.commit()
    session.expunge_all()  # the sweep runs where nothing is loaded

    set_today(date(2030, 1, 1))
    assert licensing.expire_licenses(session=session, today=date(2030, 1, 1)) == 2
    session.commit()

    expired = entries(session, object_type="license", action="expired")
    assert sorted(entry.object_id for entry in expired) == sorted(
        license_.id for license_ in issued if license_.id is not None
    )
    for entry, licensee in zip(expired, licensees, strict=True):
        # The old value is read before the statement (one query for all rows, none per row).
        assert entry.changes["status"] == ["active", "expired"]
        assert parties(session, entry) == sorted([listing.owner_id, licensee.organization_id])


def test_secrets_and_noise_are_never_recorded(session: Session) -> None:
    account = factories.member(session)
    session.commit()
    [created] = entries(session, object_type="user_account", object_id=account.id)
    assert "password_hash" not in created.changes
    assert created.changes["email"] == [None, account.email]

    account.password_hash = factories.password_hash()
    account.last_login_at = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    session.add(account)
    session.commit()
    # A new password is a secret, the login time is noise: no entry at all.
    assert len(entries(session, object_type="user_account", object_id=account.id)) == 1


def test_the_actor_is_whoever_the_session_acts_for(session: Session) -> None:
    admin = factories.platform_admin(session)
    organization = factories.organization(session, verified=False)
    session.commit()

    act_as(session, Actor(f"user:{admin.id}", organization_id=admin.organization_id))
    accounts.decide_verification(
        session=session, organization=organization, approve=False, reason="No"
    )
    session.commit()

    [decided] = entries(session, object_type="organization", action="rejected")
    assert (decided.actor, decided.actor_organization_id) == (
        f"user:{admin.id}",
        admin.organization_id,
    )
    # The actor lasts one transaction.
    factories.organization(session)
    session.commit()
    assert entries(session)[-1].actor == "system"


def test_nothing_is_recorded_for_what_is_rolled_back(session: Session) -> None:
    kept = factories.organization(session)
    savepoint = session.begin_nested()
    factories.organization(session, name="Rolled back in a savepoint")
    savepoint.rollback()
    session.commit()
    assert [entry.object_id for entry in entries(session, object_type="organization")] == [kept.id]

    factories.organization(session, name="Rolled back with its transaction")
    session.rollback()
    session.commit()
    assert len(entries(session, object_type="organization")) == 1


def test_an_object_created_and_deleted_in_one_transaction_leaves_no_entry(
    session: Session,
) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    listing = factories.draft_listing(session, owner)
    listing_id = listing.id
    listings.delete_listing(session=session, listing=listing)
    session.commit()
    assert entries(session, object_type="listing", object_id=listing_id) == []


def test_a_deletion_is_recorded_with_what_was_deleted(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    listing = factories.draft_listing(session, owner)
    offer_id = listing.offers[0].id
    session.commit()

    listings.delete_listing(session=session, listing=listing)
    session.commit()

    [deleted] = entries(session, object_type="listing", action="deleted")
    assert deleted.changes["status"] == ["draft", None]
    assert parties(session, deleted) == [owner.id]
    [offer_deleted] = entries(session, object_type="offer", action="deleted")
    assert offer_deleted.object_id == offer_id
    assert parties(session, offer_deleted) == [owner.id]


def test_a_bulk_statement_the_recorder_cannot_follow_is_refused(session: Session) -> None:
    factories.organization(session)
    with pytest.raises(UnauditableStatement):
        session.execute(
            sa.update(Organization)
            .where(col(Organization.id) == 1)
            .values(region="Hubei")
            .returning(col(Organization.id))
        )


def test_a_bulk_delete_is_recorded_row_by_row(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    listing = factories.draft_listing(session, owner, offers=[])
    session.commit()
    with pytest.raises(UnauditableStatement):
        session.execute(sa.delete(Listing).where(col(Listing.id) == listing.id))

    session.execute(
        sa.delete(Listing)
        .where(col(Listing.id) == listing.id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    [deleted] = entries(session, object_type="listing", action="deleted")
    assert (deleted.object_id, deleted.changes) == (listing.id, {})
    assert parties(session, deleted) == [owner.id]


def test_a_synchronized_bulk_update_refreshes_loaded_objects(session: Session) -> None:
    organization = factories.organization(session, region="Zhejiang")
    session.commit()
    session.execute(
        sa.update(Organization)
        .where(col(Organization.id) == organization.id)
        .values(region="Hubei")
        .execution_options(synchronize_session="evaluate")
    )
    assert organization.region == "Hubei"
    session.commit()
    [moved] = entries(session, object_type="organization", action="updated")
    assert moved.changes == {"region": ["Zhejiang", "Hubei"]}


def test_a_refused_transition_records_nothing(session: Session) -> None:
    organization = factories.organization(session, verified=True)
    session.commit()
    before = len(entries(session))
    with pytest.raises(OrganizationNotPending):
        accounts.decide_verification(session=session, organization=organization, approve=True)
    session.commit()
    assert len(entries(session)) == before


def test_one_transaction_reads_the_chain_head_once_and_nothing_per_row(
    session: Session,
) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    drafts = [factories.draft_listing(session, owner) for _ in range(5)]
    session.commit()

    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    for listing in drafts:
        listing.title = f"Renamed {listing.id}"
        session.add(listing)
    session.flush()
    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        session.commit()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    renamed = entries(session, action="updated", object_type="listing")
    assert len(renamed) == 5
    # The head read once (on PostgreSQL inside the one audit_chain_sequence statement after
    # the commit, which also takes the chain lock and chains); nothing per entry.
    heads = [
        statement
        for statement in selects
        if "audit_event" in statement or "audit_chain_sequence" in statement
    ]
    assert len(heads) == 1
    assert len(selects) <= 2


def test_a_license_termination_is_recorded_for_both_parties(session: Session) -> None:
    listing, offer = factories.published_listing(
        session, offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3.5"))]
    )
    licensee = factories.member(session)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=session.get_one(Organization, licensee.organization_id),
        user=licensee,
        idempotency_key="key",
    ).license
    session.commit()
    licensing.terminate_license(
        session=session,
        license_=license_,
        organization_id=licensee.organization_id,
        reason="Product discontinued",
    )
    session.commit()

    [terminated] = entries(session, object_type="license", action="terminated")
    assert terminated.changes["status"] == ["active", "terminated"]
    assert parties(session, terminated) == sorted([listing.owner_id, licensee.organization_id])
    assert session.get_one(License, license_.id).status is LicenseStatus.terminated


def test_a_payment_and_its_obligation_are_recorded_for_both_parties(session: Session) -> None:
    from marketplace.licensing import payments
    from marketplace.licensing.models.obligations import Obligation, ObligationKind, PaymentCreate
    from tests.licensing.royalty_builders import license_for

    licensor = factories.organization(session, kind=OrganizationKind.university)
    licensee = factories.organization(session)
    # Its entry fee unpaid: the payment below is the one the license waits for.
    license_ = license_for(session, licensor, licensee, paid=False)
    upfront = session.scalars(
        select(Obligation)
        .where(col(Obligation.license_id) == license_.id)
        .where(col(Obligation.kind) == ObligationKind.upfront)
    ).one()
    session.commit()
    payment = payments.record_payment(
        session=session,
        obligation_id=upfront.id or 0,
        organization_id=licensee.id or 0,
        user=None,
        data=PaymentCreate(amount=upfront.amount, paid_on=date(2026, 6, 15), reference="TT-1"),
    )
    session.commit()
    payments.confirm_payment(
        session=session, payment_id=payment.id or 0, organization_id=licensor.id or 0, user=None
    )
    session.commit()

    [confirmed] = entries(session, object_type="payment", action="confirmed")
    assert confirmed.changes["status"] == ["recorded", "confirmed"]
    assert parties(session, confirmed) == sorted([licensor.id or 0, licensee.id or 0])
    [paid] = entries(session, object_type="obligation", action="paid")
    assert paid.changes["status"] == ["due", "paid"]
    assert audit.verify_chain(session=session).ok
