"""A pledge recorded on a declared patent while a licensee accepts one of the declaration's offers
(PostgreSQL, real commits). Exactly one lawful outcome, whichever goes first: the license
predates the pledge and is untouched, or the acceptance sees the pledge and is refused (or, with
the pledgee's consent carried by the pledge, is granted under it).

The two transactions are made to overlap on purpose: the first holds its locks until the server
shows the second waiting for it (``tests.concurrency.overlap``), so nothing rests on timing."""

import uuid
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.events.models import Event, EventType
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.pledges import license_links
from marketplace.pledges.errors import DeclarationSuspendedByPledge
from marketplace.pledges.models import Pledge, PledgeStatus
from marketplace.workflows import acceptance
from tests import factories
from tests.concurrency import Call, overlap, send_at_once
from tests.conftest import postgres_only
from tests.pledges.conftest import make_pledge, register
from tests.problems import assert_problem

pytestmark = postgres_only


@dataclass(frozen=True)
class World:
    licensor_id: int
    bank_id: int
    licensee_id: int
    listing_id: int
    offer_id: int
    pledge_id: int
    bank_headers: dict[str, str]
    licensee_headers: dict[str, str]


def world(engine: Engine, *, consents: bool = False) -> World:
    """A declaration in force on one patent (a running royalty: an acceptance makes a license in
    force at once), and a confirmed pledge application on it."""
    with Session(engine, expire_on_commit=False) as session:
        owner = factories.organization(session, kind=OrganizationKind.enterprise)
        listing, offer = factories.published_listing(
            session,
            owner,
            offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
        )
        bank_user = factories.member(session, kind=OrganizationKind.bank)
        bank = session.get_one(Organization, bank_user.organization_id)
        pledge = make_pledge(
            session,
            pledgee=bank,
            pledgor=owner,
            patents=list(listing.patents),
            status=PledgeStatus.applied,
            consents_to_open_licenses=consents,
        )
        licensee_user = factories.member(session, kind=OrganizationKind.enterprise)
        built = World(
            licensor_id=owner.id or 0,
            bank_id=bank.id or 0,
            licensee_id=licensee_user.organization_id,
            listing_id=listing.id or 0,
            offer_id=offer.id or 0,
            pledge_id=pledge.id or 0,
            bank_headers=factories.auth(session, bank_user),
            licensee_headers=factories.auth(session, licensee_user),
        )
        session.commit()
    return built


def accept(session: Session, scene: World) -> License:
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=scene.offer_id,
        licensee=session.get_one(Organization, scene.licensee_id),
        user=None,
        idempotency_key=str(uuid.uuid4()),
    ).license
    return license_


def record(session: Session, scene: World) -> None:
    register(
        session,
        session.get_one(Pledge, scene.pledge_id),
        factories.caller(session.get_one(Organization, scene.bank_id)),
        f"Y2026980{scene.pledge_id:06d}",
    )


def licenses_of(engine: Engine, scene: World) -> list[License]:
    with Session(engine) as session:
        return list(
            session.scalars(select(License).where(License.listing_id == scene.listing_id)).all()
        )


def linked_pledges(engine: Engine, license_id: int) -> list[int]:
    with Session(engine) as session:
        return license_links.pledge_ids_by_license(session, [license_id]).get(license_id, [])


def pledge_status(engine: Engine, scene: World) -> PledgeStatus:
    with Session(engine) as session:
        return session.get_one(Pledge, scene.pledge_id).status


def suspensions(engine: Engine, scene: World) -> int:
    with Session(engine) as session:
        return len(
            session.scalars(
                select(Event).where(
                    col(Event.recipient_id) == scene.licensor_id,
                    col(Event.type) == EventType.declaration_suspended.value,
                )
            ).all()
        )


def test_an_acceptance_first_makes_a_license_that_predates_the_pledge(
    committed_engine: Engine,
) -> None:
    scene = world(committed_engine)

    failures = overlap(committed_engine, lambda s: accept(s, scene), lambda s: record(s, scene))

    assert failures == []
    [license_] = licenses_of(committed_engine, scene)
    assert license_.status is LicenseStatus.active
    # Granted before the pledge: untouched by it, and not linked to it.
    assert linked_pledges(committed_engine, license_.id or 0) == []
    assert pledge_status(committed_engine, scene) is PledgeStatus.registered
    # The declaration is suspended from the registration on.
    assert suspensions(committed_engine, scene) == 1
    with Session(committed_engine) as session, pytest.raises(DeclarationSuspendedByPledge):
        accept(session, scene)


def test_a_registration_first_refuses_the_acceptance_that_waited_for_it(
    committed_engine: Engine,
) -> None:
    scene = world(committed_engine)

    failures = overlap(committed_engine, lambda s: record(s, scene), lambda s: accept(s, scene))

    assert [type(failure) for failure in failures] == [DeclarationSuspendedByPledge]
    assert licenses_of(committed_engine, scene) == []
    assert pledge_status(committed_engine, scene) is PledgeStatus.registered
    assert suspensions(committed_engine, scene) == 1


def test_a_registration_with_consent_first_lets_the_waiting_acceptance_through(
    committed_engine: Engine,
) -> None:
    scene = world(committed_engine, consents=True)

    failures = overlap(committed_engine, lambda s: record(s, scene), lambda s: accept(s, scene))

    assert failures == []
    [license_] = licenses_of(committed_engine, scene)
    assert license_.status is LicenseStatus.active
    # Granted under the pledge: its income is the pledgee's concern.
    assert linked_pledges(committed_engine, license_.id or 0) == [scene.pledge_id]
    assert suspensions(committed_engine, scene) == 0


def test_registrations_and_acceptances_sent_at_once_end_lawfully(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    # Several independent races at once, so that either request gets to go first somewhere.
    scenes = [world(committed_engine) for _ in range(6)]
    calls = [
        call
        for scene in scenes
        for call in (
            Call(
                "POST",
                f"/api/v1/pledges/{scene.pledge_id}/registration",
                scene.bank_headers,
                {
                    "registration_number": f"Y2026980{scene.pledge_id:06d}",
                    "registration_date": "2026-06-15",
                },
            ),
            Call(
                "POST",
                f"/api/v1/offers/{scene.offer_id}/accept",
                scene.licensee_headers | {"Idempotency-Key": str(uuid.uuid4())},
            ),
        )
    ]

    responses = send_at_once(live_app, calls)

    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    for scene, registered, accepted in zip(scenes, responses[::2], responses[1::2], strict=True):
        # The registration always goes through: the declaration is no ground to refuse it.
        assert registered.status_code == 200, registered.text
        licenses = licenses_of(committed_engine, scene)
        if accepted.status_code == 201:
            # The license predates the pledge: untouched, and not linked to it.
            [license_] = licenses
            assert license_.status is LicenseStatus.active
            assert accepted.json()["pledge_ids"] == []
            assert linked_pledges(committed_engine, license_.id or 0) == []
        else:
            assert_problem(accepted, 409, "declaration_suspended_by_pledge")
            assert licenses == []
        assert suspensions(committed_engine, scene) == 1
