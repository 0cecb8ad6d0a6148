"""A small portfolio with known conversion figures, shared by the service and route tests."""

import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.patents.models import Patent
from marketplace.workflows import acceptance
from tests import factories
from tests.factories import NewParty, Party


@dataclass
class Portfolio:
    university: Party
    patents: list[Patent]
    lump_sum_offer_id: int


def accept(session: Session, offer_id: int, licensee: Organization, *, paid: bool = True) -> None:
    """The licensee accepts; any upfront fee is paid and confirmed at once unless ``paid`` is
    False (the license then waits for it, and is not counted as licensed)."""
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer_id,
        licensee=licensee,
        user=None,
        idempotency_key=str(uuid.uuid4()),
    ).license
    if paid:
        factories.pay_upfront(session, license_)


@pytest.fixture
def portfolio(session: Session, new_party: NewParty) -> Portfolio:
    """Three patents of a university in Hubei:

    * H01M, filed 2019, department Materials: published (lump sum of 10,000), licensed twice
      (both fees paid and confirmed);
    * G06F, filed 2020, department Computing: published (running), licensed once, withdrawn;
    * G06F, filed 2020, no department: never listed.

    Everything happens on the test calendar day, 2026-06-15."""
    university = new_party(kind=OrganizationKind.university, region="Hubei")
    battery = factories.patent(
        session,
        university.organization,
        filing_date=date(2019, 4, 1),
        ipc_codes=["H01M 10/0525"],
        department="Materials",
    )
    search = factories.patent(
        session,
        university.organization,
        filing_date=date(2020, 2, 1),
        ipc_codes=["G06F 16/33"],
        department="Computing",
    )
    idle = factories.patent(
        session, university.organization, filing_date=date(2020, 9, 1), ipc_codes=["G06F 17/00"]
    )
    _, lump_sum = factories.published_listing(
        session,
        university.organization,
        patent_list=[battery],
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee="10000")],
    )
    searching, running = factories.published_listing(
        session,
        university.organization,
        patent_list=[search],
        offers=[factories.offer_data(royalty_type="running", royalty_rate="3")],
    )
    for _ in range(2):
        accept(session, lump_sum.id or 0, factories.organization(session))
    accept(session, running.id or 0, factories.organization(session))
    factories.withdraw(session, searching)
    return Portfolio(
        university=university,
        patents=[battery, search, idle],
        lump_sum_offer_id=lump_sum.id or 0,
    )
