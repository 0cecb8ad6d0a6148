"""Saved searches with real commits: the alert in the event feed, alerting as part of the
publication's transaction, and (PostgreSQL) the per-organization limit against concurrent
saves."""

import threading
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.events.models import Event
from marketplace.listings.models import Listing, ListingStatus
from marketplace.matching import saved_searches
from marketplace.matching.errors import SavedSearchLimitReached
from marketplace.matching.models import SavedSearch, SavedSearchCreate
from marketplace.pledges import service as pledges
from tests import factories
from tests.conftest import postgres_only
from tests.matching.overlap import PATIENCE_SECONDS, backend_pid, start, wait_until_blocked


@dataclass(frozen=True)
class Scene:
    saver_id: int
    saver_headers: dict[str, str]
    listing_id: int
    publisher_headers: dict[str, str]


def _setup(engine: Engine) -> Scene:
    """A saver with a saved search for 电池, and a university's draft listing about 电池."""
    with Session(engine, expire_on_commit=False) as session:
        saver = factories.member(session)
        saved_searches.create_saved_search(
            session=session,
            organization=session.get_one(Organization, saver.organization_id),
            data=SavedSearchCreate(name="电池", q="电池"),
        )
        publisher = factories.member(session, kind=OrganizationKind.university)
        owner = session.get_one(Organization, publisher.organization_id)
        patent = factories.patent(session, owner, title="一种锂离子电池")
        draft = factories.draft_listing(session, owner, patent_list=[patent])
        scene = Scene(
            saver_id=saver.organization_id,
            saver_headers=factories.auth(session, saver),
            listing_id=draft.id or 0,
            publisher_headers=factories.auth(session, publisher),
        )
        session.commit()
        return scene


def _events(engine: Engine, recipient_id: int) -> int:
    with Session(engine) as session:
        return (
            session.scalar(
                select(sa.func.count())
                .select_from(Event)
                .where(col(Event.recipient_id) == recipient_id)
            )
            or 0
        )


def test_the_alert_is_in_the_savers_event_feed(live_app: FastAPI, committed_engine: Engine) -> None:
    scene = _setup(committed_engine)
    with TestClient(live_app) as client:
        path = f"/api/v1/listings/{scene.listing_id}/publish"
        published = client.post(
            path, json=factories.announcement_body(), headers=scene.publisher_headers
        )
        assert published.status_code == 200, published.text
        # On PostgreSQL the feed shows an event once every older transaction on the server has
        # ended; other clients of a shared server can hold that back for a moment.
        deadline = time.monotonic() + 10
        while True:
            feed = client.get("/api/v1/events", headers=scene.saver_headers).json()["items"]
            if feed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert [(e["type"], e["subject"]) for e in feed] == [
        ("saved_search.matched", f"listing:{scene.listing_id}")
    ]
    payload = feed[0]["payload"]
    assert (payload["name"], payload["listing_id"], payload["title"]) == (
        "电池",
        scene.listing_id,
        "一种锂离子电池",
    )
    assert payload["matched_terms"] == ["电池"]


def test_a_failed_publication_records_no_alert(
    live_app: FastAPI, committed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = _setup(committed_engine)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the step after alerting fails")

    # The step the publication takes after alerting the saved searches.
    monkeypatch.setattr(pledges, "notify_pledgees", fail)
    with TestClient(live_app, raise_server_exceptions=False) as client:
        response = client.post(
            f"/api/v1/listings/{scene.listing_id}/publish",
            json=factories.announcement_body(),
            headers=scene.publisher_headers,
        )
    assert response.status_code == 500
    assert _events(committed_engine, scene.saver_id) == 0
    with Session(committed_engine) as session:
        assert session.get_one(Listing, scene.listing_id).status == ListingStatus.draft
        assert session.scalars(select(SavedSearch.last_alerted_at)).all() == [None]

    monkeypatch.undo()
    with TestClient(live_app) as client:
        response = client.post(
            f"/api/v1/listings/{scene.listing_id}/publish",
            json=factories.announcement_body(),
            headers=scene.publisher_headers,
        )
    assert response.status_code == 200, response.text
    assert _events(committed_engine, scene.saver_id) == 1


@postgres_only
def test_concurrent_saves_stay_within_the_limit(
    committed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "saved_searches_per_organization", 1)
    with Session(committed_engine) as session:
        org = factories.organization(session)
        session.commit()
        org_id = org.id
    first = Session(committed_engine)
    second = Session(committed_engine)
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def save(session: Session, word: str) -> None:
        try:
            saved_searches.create_saved_search(
                session=session,
                organization=session.get_one(Organization, org_id),
                data=SavedSearchCreate(name=word, q=word),
            )
            session.commit()
            outcomes.append("saved")
        except SavedSearchLimitReached:
            outcomes.append("refused")

    thread: threading.Thread | None = None
    try:
        holder, waiter = backend_pid(first), backend_pid(second)
        # The first saves and holds its transaction open: its saved search is not yet visible,
        # so a count alone would let the second save as well.
        saved_searches.create_saved_search(
            session=first,
            organization=first.get_one(Organization, org_id),
            data=SavedSearchCreate(name="alpha", q="alpha"),
        )
        # The second must wait for the first (the organization's row lock) before it counts.
        thread = start(lambda: save(second, "beta"), failures)
        wait_until_blocked(committed_engine, waiter=waiter, holder=holder, thread=thread)
        first.commit()
        outcomes.append("saved")
    finally:
        first.close()  # its locks go with it, should the test have failed while it held them
        if thread is not None:
            thread.join(timeout=PATIENCE_SECONDS)
        second.close()
    assert thread is not None
    assert not thread.is_alive()
    assert failures == []
    assert sorted(outcomes) == ["refused", "saved"]
    with Session(committed_engine) as session:
        assert session.scalar(select(sa.func.count()).select_from(SavedSearch)) == 1
