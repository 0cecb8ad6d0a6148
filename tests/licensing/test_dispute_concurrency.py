"""Disputes under real concurrency (PostgreSQL only): requests commit for real, side by side."""

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.licensing import service as licensing
from marketplace.licensing.models.disputes import DisputeStatus, LicenseDispute
from marketplace.licensing.models.licenses import License
from tests import factories
from tests.concurrency import post_at_once, statuses_and_bodies
from tests.conftest import postgres_only

pytestmark = postgres_only

BODY = {"reason": "royalty_payment", "statement": "The Q1 royalty is overdue."}


@dataclass(frozen=True)
class Licensed:
    license_id: int
    licensor: dict[str, str]
    licensee: dict[str, str]
    admin: dict[str, str]


def licensed(engine: Engine) -> Licensed:
    """Commit one license between a university and an enterprise, and a platform admin."""
    with Session(engine, expire_on_commit=False) as session:
        university = factories.member(session, kind=OrganizationKind.university)
        enterprise = factories.member(session)
        admin = factories.platform_admin(session)
        _, offer = factories.published_listing(session, university)
        assert offer.id is not None
        license_, _ = licensing.accept_offer(
            session=session,
            offer_id=offer.id,
            licensee=session.get_one(Organization, enterprise.organization_id),
            user=enterprise,
            idempotency_key=str(uuid.uuid4()),
        )
        assert license_.id is not None
        result = Licensed(
            license_.id,
            factories.auth(session, university),
            factories.auth(session, enterprise),
            factories.auth(session, admin),
        )
        session.commit()
    return result


def stored(engine: Engine, license_id: int) -> tuple[list[LicenseDispute], License]:
    with Session(engine) as session:
        found = list(
            session.scalars(
                select(LicenseDispute).where(LicenseDispute.license_id == license_id)
            ).all()
        )
        return found, session.get_one(License, license_id)


def test_both_parties_opening_at_once_yield_exactly_one_open_dispute(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    deal = licensed(committed_engine)
    path = f"/api/v1/licenses/{deal.license_id}/disputes"
    calls = [(path, headers, BODY) for _ in range(10) for headers in (deal.licensor, deal.licensee)]

    results = statuses_and_bodies(post_at_once(live_app, calls))

    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1, results
    assert {(s, b.get("code")) for s, b in results if s != 201} == {
        (409, "dispute_already_open")
    }, results
    disputes, license_ = stored(committed_engine, deal.license_id)
    assert len(disputes) == 1
    winner = next(body for status, body in results if status == 201)
    assert license_.open_dispute_id == winner["id"] == disputes[0].id


def test_withdrawal_racing_resolution_closes_the_dispute_once(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    deal = licensed(committed_engine)
    [(status, body)] = statuses_and_bodies(
        post_at_once(
            live_app, [(f"/api/v1/licenses/{deal.license_id}/disputes", deal.licensee, BODY)]
        )
    )
    assert status == 201, body
    base = f"/api/v1/disputes/{body['id']}"
    resolution = {"outcome": "settled", "text": "Paid in full."}
    calls: list[tuple[str, dict[str, str], dict[str, Any] | None]] = []
    for _ in range(5):
        calls += [(f"{base}/withdraw", deal.licensee, None)]
        calls += [(f"{base}/resolve", deal.admin, resolution)]

    results = statuses_and_bodies(post_at_once(live_app, calls))

    assert [s for s, _ in results].count(200) == 1, results
    assert {(s, b.get("code")) for s, b in results if s != 200} == {(409, "dispute_closed")}
    disputes, license_ = stored(committed_engine, deal.license_id)
    assert [d.status for d in disputes] in ([DisputeStatus.withdrawn], [DisputeStatus.resolved])
    assert license_.open_dispute_id is None
