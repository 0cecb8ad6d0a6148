"""What a listing page costs the database: a browse page and a detail page send a fixed number
of selects, however many listings, patents, IPC codes and offers they show, and write nothing.
A page that loaded its rows one by one would send more statements as it grew."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.listings.models import Listing
from tests import factories
from tests.conftest import IS_POSTGRES
from tests.statements import counting_statements

LISTINGS = "/api/v1/listings"
# Browse: the keyset page, listings with their owners, patents with their codes, offers, and
# the suspensions by pledges (the facet counts are remembered, see tests/matching/test_browse.py);
# PostgreSQL reads the listings, patents and offers in one select (as JSON arrays per listing).
PUBLIC_FIELDS_SELECTS = 1 if IS_POSTGRES else 3
BROWSE_SELECTS = 2 + PUBLIC_FIELDS_SELECTS
# Detail: the same reads for one listing, without the keyset page.
DETAIL_SELECTS = 1 + PUBLIC_FIELDS_SELECTS


def catalogue(session: Session, listings: int, *, patents: int, offers: int) -> list[Listing]:
    """Published listings, each with ``patents`` patents (two IPC codes each) and ``offers``
    offers, from two owners."""
    owners = [factories.organization(session, kind=OrganizationKind.university) for _ in "ab"]
    made = []
    for n in range(listings):
        owner = owners[n % 2]
        listing, _ = factories.published_listing(
            session,
            owner,
            patent_list=[factories.patent(session, owner) for _ in range(patents)],
            offers=[factories.offer_data(term_years=1 + k) for k in range(offers)],
        )
        made.append(listing)
    return made


def selects_of(
    session: Session, client: TestClient, path: str, *, warm: bool = False
) -> tuple[list[str], Any]:
    """The selects a request sends, starting from an empty session as in production; ``warm``
    asks once before, so that the browse facets are remembered (a commit forgets them)."""
    session.commit()
    session.expunge_all()
    if warm:
        client.get(path)
    with counting_statements(session) as statements:
        response = client.get(path)
    assert response.status_code == 200, response.text
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # A read writes nothing and locks nothing (demand counters are flushed apart).
    assert [
        s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ] == []
    assert [s for s in reads if " FOR UPDATE" in s.upper() or " FOR SHARE" in s.upper()] == []
    return reads, response.json()


def test_a_browse_page_sends_the_same_selects_however_much_it_shows(
    session: Session, client: TestClient, remembered_facets: None
) -> None:
    catalogue(session, 2, patents=1, offers=1)
    small, body = selects_of(session, client, f"{LISTINGS}?limit=20", warm=True)
    assert len(body["items"]) == 2

    catalogue(session, 8, patents=3, offers=2)
    large, body = selects_of(session, client, f"{LISTINGS}?limit=20", warm=True)
    assert len(body["items"]) == 10
    assert sum(len(item["patents"]) for item in body["items"]) == 2 + 8 * 3
    assert all(len(p["ipc_codes"]) == 2 for item in body["items"] for p in item["patents"])

    assert len(small) == len(large) == BROWSE_SELECTS, large


def test_a_detail_page_sends_the_same_selects_however_much_it_shows(
    session: Session, client: TestClient
) -> None:
    (single,) = catalogue(session, 1, patents=1, offers=1)
    (bundle,) = catalogue(session, 1, patents=3, offers=3)

    small, body = selects_of(session, client, f"{LISTINGS}/{single.id}")
    assert len(body["patents"]) == 1
    large, body = selects_of(session, client, f"{LISTINGS}/{bundle.id}")
    assert [len(p["ipc_codes"]) for p in body["patents"]] == [2, 2, 2]
    assert len(body["offers"]) == 3

    assert len(small) == len(large) == DETAIL_SELECTS, large


def test_a_detail_page_shows_a_patent_without_ipc_codes_and_its_suspension(
    session: Session, client: TestClient
) -> None:
    """The patents are read joined to their codes: a patent with none is still shown, once."""
    owner = factories.organization(session, kind=OrganizationKind.university)
    bare = factories.patent(session, owner, ipc_codes=[])
    coded = factories.patent(session, owner, ipc_codes=["G06F 16/33"])
    listing, _ = factories.published_listing(session, owner, patent_list=[bare, coded])

    _, body = selects_of(session, client, f"{LISTINGS}/{listing.id}")

    assert [(p["id"], p["ipc_codes"]) for p in body["patents"]] == [
        (bare.id, []),
        (coded.id, ["G06F 16/33"]),
    ]
    assert body["suspension"] is None
