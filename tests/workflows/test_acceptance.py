"""Accepting an offer on pledged patents links the license to the pledges and tells their
pledgee (Civil Code art. 444) once the license is in force: a license waiting for its upfront
fee or for export review does so only once paid (and approved)."""

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.events.models import Event, EventType
from marketplace.licensing import export_review
from marketplace.licensing.models.export_review import ExportControlCreate
from marketplace.licensing.models.licenses import LicenseStatus
from marketplace.pledges import license_links
from marketplace.pledges import service as pledges
from marketplace.pledges.models import Pledge, PledgeStatus
from marketplace.workflows import acceptance
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import MakePledge
from tests.statements import counting_statements, inserts_into


def licensed_events(session: Session, bank: Party) -> list[Event]:
    return list(
        session.scalars(
            select(Event).where(
                col(Event.recipient_id) == bank.id,
                col(Event.type) == EventType.pledged_patent_licensed.value,
            )
        ).all()
    )


def declared_pledged_patent(
    session: Session, bank: Party, owner: Party, pledge: Pledge, **offer: str
) -> int:
    listing = factories.draft_listing(
        session,
        owner.organization,
        patent_list=list(pledge.patents),
        offers=[factories.offer_data(**offer)] if offer else None,
    )
    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id or 0
    )
    factories.publish(session, listing)
    return listing.offers[0].id or 0


def test_a_license_on_pledged_patents_is_linked_to_the_pledge_and_replays_add_nothing(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    offer_id = declared_pledged_patent(session, bank, owner, pledge)
    licensee = factories.organization(session, kind=OrganizationKind.enterprise)

    first = acceptance.accept_offer(
        session=session, offer_id=offer_id, licensee=licensee, user=None, idempotency_key="k"
    )
    replay = acceptance.accept_offer(
        session=session, offer_id=offer_id, licensee=licensee, user=None, idempotency_key="k"
    )

    assert (first.created, replay.created) == (True, False)
    assert replay.license.id == first.license.id
    license_id = first.license.id or 0
    assert license_links.pledge_ids_by_license(session, [license_id]) == {license_id: [pledge.id]}
    # The new license carries its links as given, the replay as read back: the same.
    assert first.pledge_ids == replay.pledge_ids == [pledge.id]
    assert first.public().pledge_ids == replay.public().pledge_ids == [pledge.id]
    # The factories' hybrid offer asks for an entry fee: no license in force before it is paid.
    assert first.license.status is LicenseStatus.pending_payment
    assert licensed_events(session, bank) == []

    factories.pay_upfront(session, first.license)

    assert factories.reread(session, first.license).status is LicenseStatus.active
    assert len(licensed_events(session, bank)) == 1


def test_a_foreign_license_tells_the_pledgee_only_when_export_is_approved(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    ipc = pledge.patents[0].ipc_codes[0]
    export_review.add_control(
        session=session,
        data=ExportControlCreate(ipc_prefix=ipc.split("/")[0].strip(), description="Controlled"),
        user=None,
    )
    offer_id = declared_pledged_patent(session, bank, owner, pledge)
    foreign = factories.organization(session, kind=OrganizationKind.enterprise, country="US")

    pending = acceptance.accept_offer(
        session=session, offer_id=offer_id, licensee=foreign, user=None, idempotency_key="k"
    ).license
    assert pending.status is LicenseStatus.pending_export_review
    assert license_links.pledge_ids_by_license(session, [pending.id or 0]) == {
        pending.id: [pledge.id]
    }
    assert licensed_events(session, bank) == []

    approved = acceptance.approve_export(
        session=session, license_id=pending.id or 0, admin=None, note=None
    )

    # Approved, the hybrid license still waits for its entry fee.
    assert approved.status is LicenseStatus.pending_payment
    assert licensed_events(session, bank) == []

    factories.pay_upfront(session, approved)

    assert factories.reread(session, approved).status is LicenseStatus.active
    [told] = licensed_events(session, bank)
    assert told.payload["license_id"] == approved.id


def test_an_acceptance_writes_all_its_events_in_one_insert(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.registered)
    offer_id = declared_pledged_patent(
        session, bank, owner, pledge, royalty_type="running", royalty_rate="2.5"
    )
    licensee = factories.organization(session, kind=OrganizationKind.enterprise)

    session.flush()
    before = session.scalar(select(sa.func.max(col(Event.id)))) or 0
    with counting_statements(session) as statements:
        accepted = acceptance.accept_offer(
            session=session, offer_id=offer_id, licensee=licensee, user=None, idempotency_key="k"
        )

    # In force at once (nothing up front): the notice to the licensor, the license in force
    # for both parties and the pledgee's news, in the order they happened.
    assert accepted.license.status is LicenseStatus.active
    assert len(inserts_into(statements, "event")) == 1
    told = session.scalars(
        select(Event).where(col(Event.id) > before).order_by(col(Event.id))
    ).all()
    assert [(event.type, event.recipient_id) for event in told] == [
        (EventType.license_accepted.value, owner.id),
        (EventType.license_in_force.value, owner.id),
        (EventType.license_in_force.value, licensee.id),
        (EventType.pledged_patent_licensed.value, bank.id),
    ]
