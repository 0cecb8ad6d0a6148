"""Taking a license: the acceptance under a declaration (the written notice), the export approval
that lets a pending one go on, and the confirmed upfront payment that puts a pending one in
force (Patent Law art. 51). A license in force reaches the pledges of the licensed patents,
whose pledgees are entitled to the licensing income (Civil Code art. 444)."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from marketplace.accounts.models import Organization, User
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing import export_review, payments
from marketplace.licensing import service as licensing
from marketplace.licensing.declarations import read_declaration
from marketplace.licensing.models.licenses import License, LicensePublic, LicenseStatus
from marketplace.licensing.models.obligations import Obligation, Payment
from marketplace.listings import service as listings
from marketplace.listings.models import Listing
from marketplace.pledges import collateral, license_links
from marketplace.pledges import service as pledges


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What an acceptance gave: the license, whether it was created now (False: a replay of
    the same key), and the pledges it was linked to when granted."""

    license: License
    created: bool
    pledge_ids: list[int]

    def public(self) -> LicensePublic:
        """The license as its parties see it."""
        return licensing.to_public(self.license, self.pledge_ids)


def accept_offer(
    *,
    session: Session,
    offer_id: int,
    licensee: Organization,
    user: User | None,
    idempotency_key: str,
) -> Acceptance:
    """The licensee's written notice under a published declaration (Patent Law art. 51).

    A declaration suspended by a pledge without its pledgee's consent (Civil Code art. 444)
    takes no new acceptance; a replay still returns the license taken before, with the pledge
    links read back (a new license carries those it was just given, without a read)."""
    assert licensee.id is not None
    # The key first: a replay returns the license taken before, whatever has happened to the
    # declaration since; a new key is claimed (one statement), and a concurrent request with
    # the same key waits here until this one ends, then replays it.
    claimed = licensing.claim_offer_key(
        session, offer_id=offer_id, organization_id=licensee.id, key=idempotency_key
    )
    if isinstance(claimed, License):
        return _replayed(session, claimed)
    offer = listings.get_visible_offer(
        session=session, offer_id=offer_id, organization_id=licensee.id
    )
    pledges.check_acceptance_allowed(session=session, listing_id=offer.listing_id)
    # Read again after the pledge check's locks (a registration committed while it waited
    # is seen: the patents' pledges, which the links below follow; a withdrawal, its status,
    # which the license's rules check without locking the row again): the listing, its owner,
    # its patents and their encumbrances, which the checks, the license's terms and the pledge
    # links read, as plain rows (they are not written to).
    declaration = read_declaration(session, offer.listing_id)
    # The notice to the licensor, the license in force and the pledgees' news: one INSERT.
    with events.together(session):
        license_, created = licensing.accept_offer(
            session=session,
            offer_id=offer_id,
            licensee=licensee,
            user=user,
            idempotency_key=idempotency_key,
            claimed=claimed,
            visible_offer=offer,
            locked_declaration=declaration,
        )
        if not created:
            return _replayed(session, license_)
        assert license_.id is not None
        pledge_ids = license_links.link_license(
            session, license_id=license_.id, patents=declaration.patents
        )
        if license_.status is LicenseStatus.active:
            _tell_pledgees(session, license_, declaration.patents)
    return Acceptance(license_, True, pledge_ids)


def _replayed(session: Session, license_: License) -> Acceptance:
    assert license_.id is not None
    linked = license_links.pledge_ids_by_license(session, [license_.id])
    return Acceptance(license_, False, linked.get(license_.id, []))


def approve_export(
    *, session: Session, license_id: int, admin: User | None, note: str | None
) -> License:
    """A platform admin approves the export of a foreign licensee's license: it takes effect
    today (or, with money due up front, once that is paid), and the pledgees of its patents hear
    of it then."""
    license_ = export_review.approve(session=session, license_id=license_id, admin=admin, note=note)
    if license_.status is LicenseStatus.active:
        _tell_pledgees(session, license_, session.get_one(Listing, license_.listing_id).patents)
    return license_


def confirm_payment(
    *, session: Session, payment_id: int, organization_id: int, user: User | None
) -> Payment:
    """The licensor confirms receipt of a payment. When it settles the upfront fee of a license
    waiting for it, the license arises today, resting on that payment, and the pledgees of its
    patents hear of it."""
    payment = payments.confirm_payment(
        session=session, payment_id=payment_id, organization_id=organization_id, user=user
    )
    obligation = session.get_one(Obligation, payment.obligation_id)
    license_ = licensing.put_in_force_on_payment(
        session=session, license_id=obligation.license_id, payment=payment, obligation=obligation
    )
    if license_ is not None:
        _tell_pledgees(session, license_, session.get_one(Listing, license_.listing_id).patents)
    return payment


def _tell_pledgees(
    session: Session, license_: License, patents: Sequence[collateral.PledgedPatentFacts]
) -> None:
    collateral.notify_pledgees(
        session,
        patents,
        EventType.pledged_patent_licensed,
        license_id=license_.id,
        license_number=license_.license_number,
        licensee_id=license_.licensee_id,
        offer=license_.terms["offer"],
    )
