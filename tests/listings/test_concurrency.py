"""Races on PostgreSQL: one announcement number, one declaration; one withdrawal request; a
withdrawal cancelled as the office's announcement of it is recorded."""

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.listings.models import Listing, ListingStatus
from tests import factories
from tests.concurrency import Call, send_at_once
from tests.conftest import postgres_only

pytestmark = postgres_only


def test_one_announcement_number_given_to_many_drafts_at_once_publishes_one(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    with Session(committed_engine, expire_on_commit=False) as session:
        account = factories.member(session, kind=OrganizationKind.university)
        drafts = [factories.draft_listing(session, account) for _ in range(8)]
        headers = factories.auth(session, account)
        session.commit()
    body = factories.announcement_body(announcement_number="KF2026424242")
    calls = [Call("POST", f"/api/v1/listings/{d.id}/publish", headers, body) for d in drafts]

    responses = send_at_once(live_app, calls)

    outcomes = sorted(
        (r.status_code, r.json().get("code") if r.status_code != 200 else None) for r in responses
    )
    assert outcomes == [(200, None)] + [(409, "announcement_number_in_use")] * 7, outcomes
    with Session(committed_engine) as session:
        published = session.scalars(
            select(Listing)
            .where(col(Listing.status) == ListingStatus.published)
            .where(col(Listing.id).in_([d.id for d in drafts]))
        ).all()
        assert [listing.announcement_number for listing in published] == ["KF2026424242"]
        assert all(len(listing.patents) == 1 for listing in published)


def test_a_withdrawal_requested_many_times_at_once_is_recorded_once(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    with Session(committed_engine, expire_on_commit=False) as session:
        account = factories.member(session, kind=OrganizationKind.university)
        listing, _ = factories.published_listing(session, account)
        headers = factories.auth(session, account)
        session.commit()
    calls = [
        Call("POST", f"/api/v1/listings/{listing.id}/withdraw", headers, {"reason": f"r{n}"})
        for n in range(6)
    ]

    responses = send_at_once(live_app, calls)

    outcomes = sorted(
        (r.status_code, r.json().get("code") if r.status_code != 200 else None) for r in responses
    )
    assert outcomes == [(200, None)] + [(409, "withdrawal_already_requested")] * 5, outcomes
    [winner] = [r.json() for r in responses if r.status_code == 200]
    with Session(committed_engine) as session:
        stored = session.get_one(Listing, listing.id)
        assert stored.withdrawal_reason == winner["withdrawal_reason"]
        assert stored.status == ListingStatus.published


def test_a_cancellation_and_the_office_announcement_at_once_one_wins(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    with Session(committed_engine, expire_on_commit=False) as session:
        account = factories.member(session, kind=OrganizationKind.university)
        listing, _ = factories.published_listing(session, account)
        headers = factories.auth(session, account)
        session.commit()
    base = f"/api/v1/listings/{listing.id}"
    for round_ in range(4):
        requested = send_at_once(
            live_app, [Call("POST", f"{base}/withdraw", headers, {"reason": f"r{round_}"})]
        )
        assert requested[0].status_code == 200, requested[0].text
        announcement = {
            "announcement_number": f"KFCX20260009{round_:02d}",
            "announcement_date": "2026-06-15",
        }
        responses = send_at_once(
            live_app,
            [
                Call("POST", f"{base}/withdrawal-cancellation", headers),
                Call("POST", f"{base}/withdrawal-announcement", headers, announcement),
            ],
        )
        cancelled, announced = (
            (r.status_code, r.json().get("code") if r.status_code != 200 else None)
            for r in responses
        )
        with Session(committed_engine) as session:
            stored = session.get_one(Listing, listing.id)
        if announced == (200, None):
            assert cancelled == (409, "withdrawal_already_announced"), cancelled
            assert stored.status == ListingStatus.withdrawn
            return
        assert cancelled == (200, None), cancelled
        assert announced == (409, "withdrawal_not_requested"), announced
        assert stored.status == ListingStatus.published
        assert stored.withdrawal_requested_at is None
