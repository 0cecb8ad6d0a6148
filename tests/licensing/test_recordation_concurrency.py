"""Recordation under real concurrency (PostgreSQL only): requests commit for real, side by side."""

import uuid
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from tests import factories
from tests.concurrency import post_at_once, statuses_and_bodies
from tests.conftest import postgres_only

pytestmark = postgres_only


@dataclass(frozen=True)
class Licensed:
    license_id: int
    licensor: dict[str, str]
    licensee: dict[str, str]


def licensed(engine: Engine, count: int) -> list[Licensed]:
    """Commit ``count`` licenses of one university's offer, each to its own enterprise."""
    with Session(engine, expire_on_commit=False) as session:
        university = factories.member(session, kind=OrganizationKind.university)
        # A running royalty: nothing up front, so each license is in force (recordable) at once.
        _, offer = factories.published_listing(
            session,
            university,
            offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
        )
        assert offer.id is not None
        result = []
        for _ in range(count):
            enterprise = factories.member(session)
            license_, _ = licensing.accept_offer(
                session=session,
                offer_id=offer.id,
                licensee=session.get_one(Organization, enterprise.organization_id),
                user=enterprise,
                idempotency_key=str(uuid.uuid4()),
            )
            assert license_.id is not None
            result.append(
                Licensed(
                    license_.id,
                    factories.auth(session, university),
                    factories.auth(session, enterprise),
                )
            )
        session.commit()
    return result


def test_both_parties_recording_at_once_record_it_once(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    (target,) = licensed(committed_engine, 1)
    path = f"/api/v1/licenses/{target.license_id}/recordation"
    calls = [
        (
            path,
            target.licensor if n % 2 else target.licensee,
            {"record_number": f"2026330{n:06d}", "record_date": "2026-06-15"},
        )
        for n in range(20)
    ]

    outcomes = statuses_and_bodies(post_at_once(live_app, calls))

    winners = [body for status, body in outcomes if status == 200]
    losers = [body["code"] for status, body in outcomes if status != 200]
    assert len(winners) == 1, outcomes
    assert losers == ["license_already_recorded"] * 19
    with Session(committed_engine) as session:
        stored = session.get_one(License, target.license_id)
        assert stored.record_number == winners[0]["record_number"]
        assert stored.recorded_by_org_id == winners[0]["recorded_by_org_id"]


def test_one_record_number_given_to_two_licenses_at_once_lands_once(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    targets = licensed(committed_engine, 6)
    body = {"record_number": "2026330000123", "record_date": "2026-06-15"}
    calls = [(f"/api/v1/licenses/{t.license_id}/recordation", t.licensee, body) for t in targets]

    outcomes = statuses_and_bodies(post_at_once(live_app, calls))

    statuses = sorted((status, body.get("code")) for status, body in outcomes)
    assert statuses == [(200, None)] + [(409, "record_number_in_use")] * 5, outcomes
    with Session(committed_engine) as session:
        numbers = [session.get_one(License, t.license_id).record_number for t in targets]
    assert sorted(numbers, key=str) == ["2026330000123"] + [None] * 5
