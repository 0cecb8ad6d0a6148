"""The issue's acceptance criteria under real concurrency (PostgreSQL only).

The app runs on the real engine and its own request sessions, so every request commits for real;
the sync endpoints run in the threadpool, so the database sees the requests side by side."""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace import clock
from marketplace.accounts.models import OrganizationKind
from marketplace.audit import service as audit
from marketplace.audit.models import AuditEvent
from marketplace.licensing.models.idempotency import IdempotencyRecord
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.models import Listing, ListingStatus
from marketplace.workflows import declarations
from tests import factories
from tests.concurrency import Call, send_at_once
from tests.conftest import postgres_only

pytestmark = postgres_only

CONCURRENCY = 50


@dataclass(frozen=True)
class Declaration:
    listing_id: int
    offer_id: int
    licensor: dict[str, str]
    enterprises: list[dict[str, str]]

    @property
    def accept_path(self) -> str:
        return f"/api/v1/offers/{self.offer_id}/accept"


def declare(engine: Engine, *, enterprises: int) -> Declaration:
    """Commit a university's published listing and ``enterprises`` verified enterprises."""
    with Session(engine, expire_on_commit=False) as session:
        university = factories.member(session, kind=OrganizationKind.university)
        listing, offer = factories.published_listing(session, university)
        members = [factories.member(session) for _ in range(enterprises)]
        declaration = Declaration(
            listing_id=listing.id or 0,
            offer_id=offer.id or 0,
            licensor=factories.auth(session, university),
            enterprises=[factories.auth(session, member) for member in members],
        )
        session.commit()
    return declaration


def licenses_of(engine: Engine, offer_id: int) -> list[License]:
    with Session(engine) as session:
        return list(session.scalars(select(License).where(License.offer_id == offer_id)).all())


def test_same_key_fifty_times_at_once_yields_exactly_one_license(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    declaration = declare(committed_engine, enterprises=1)
    headers = declaration.enterprises[0] | {"Idempotency-Key": "po-2026-000123"}

    responses = send_at_once(
        live_app, [Call("POST", declaration.accept_path, headers)] * CONCURRENCY
    )

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 201}, [r.text for r in responses if r.status_code >= 300]
    assert statuses.count(201) == 1
    assert {response.json()["id"] for response in responses} == {
        license_.id for license_ in licenses_of(committed_engine, declaration.offer_id)
    }
    assert len(licenses_of(committed_engine, declaration.offer_id)) == 1
    with Session(committed_engine) as session:
        assert len(session.scalars(select(IdempotencyRecord)).all()) == 1


def test_fifty_enterprises_accepting_at_once_each_get_a_license(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    declaration = declare(committed_engine, enterprises=CONCURRENCY)
    calls = [
        Call("POST", declaration.accept_path, headers | {"Idempotency-Key": f"enterprise-{number}"})
        for number, headers in enumerate(declaration.enterprises)
    ]

    responses = send_at_once(live_app, calls)

    assert [r.status_code for r in responses] == [201] * CONCURRENCY, [
        r.text for r in responses if r.status_code != 201
    ]
    stored = licenses_of(committed_engine, declaration.offer_id)
    assert len(stored) == CONCURRENCY
    assert len({license_.license_number for license_ in stored}) == CONCURRENCY
    assert len({license_.licensee_id for license_ in stored}) == CONCURRENCY
    assert {r.json()["id"] for r in responses} == {license_.id for license_ in stored}
    # Each answered acceptance had its entries chained: the chain is gapless and verifies, and
    # holds each license's creation once.
    with Session(committed_engine) as session:
        assert audit.pending_count(session=session) == 0
        assert audit.verify_chain(session=session).ok
        created = session.scalars(
            select(AuditEvent.object_id).where(
                AuditEvent.object_type == "license", AuditEvent.action == "created"
            )
        ).all()
        assert sorted(created) == sorted(license_.id or 0 for license_ in stored)


def test_one_enterprise_with_many_keys_at_once_still_gets_one_active_license(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    declaration = declare(committed_engine, enterprises=1)
    calls = [
        Call(
            "POST",
            declaration.accept_path,
            declaration.enterprises[0] | {"Idempotency-Key": f"k-{n}"},
        )
        for n in range(20)
    ]

    responses = send_at_once(live_app, calls)

    outcomes = [
        (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
    ]
    assert sorted(set(outcomes), key=str) == [(201, None), (409, "license_already_active")], (
        outcomes
    )
    assert outcomes.count((201, None)) == 1
    assert len(licenses_of(committed_engine, declaration.offer_id)) == 1


def test_withdrawal_announcement_racing_acceptances_never_lets_one_through_after_it(
    committed_engine: Engine,
    live_app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    fixed_clock: datetime,
) -> None:
    # Timestamps that move as real time does, so a license's creation and the withdrawal can be
    # ordered, yet stay on the frozen day (from 09:30 UTC, hours before it turns in China).
    started = time.monotonic()
    monkeypatch.setattr(
        clock, "now", lambda: fixed_clock + timedelta(seconds=time.monotonic() - started)
    )
    declaration = declare(committed_engine, enterprises=20)
    accepts = [
        Call("POST", declaration.accept_path, headers | {"Idempotency-Key": f"race-{number}"})
        for number, headers in enumerate(declaration.enterprises)
    ]
    # A requested withdrawal leaves the declaration acceptable; its announcement ends it.
    with Session(committed_engine) as session:
        listing = session.get_one(Listing, declaration.listing_id)
        declarations.request_withdrawal(
            session=session, listing=listing, request=factories.withdrawal_request(listing)
        )
        session.commit()
    withdrawal = Call(
        "POST",
        f"/api/v1/listings/{declaration.listing_id}/withdrawal-announcement",
        declaration.licensor,
        json={
            "announcement_number": "KFCX2026000777",
            "announcement_date": clock.today().isoformat(),
        },
    )

    responses = send_at_once(live_app, [*accepts[:10], withdrawal, *accepts[10:]])

    withdrawn = responses.pop(10)
    assert withdrawn.status_code == 200, withdrawn.text
    outcomes = [
        (r.status_code, r.json().get("code") if r.status_code != 201 else None) for r in responses
    ]
    assert set(outcomes) <= {(201, None), (409, "listing_not_published")}, outcomes
    stored = licenses_of(committed_engine, declaration.offer_id)
    assert len(stored) == outcomes.count((201, None))
    # The hybrid offer's licenses wait for their entry fee.
    assert {license_.status for license_ in stored} <= {LicenseStatus.pending_payment}
    with Session(committed_engine) as session:
        listing = session.get_one(Listing, declaration.listing_id)
        assert listing.status is ListingStatus.withdrawn
        assert listing.withdrawn_at is not None
        # Every license was written before the withdrawal took the listing row.
        assert all(license_.created_at < listing.withdrawn_at for license_ in stored)
