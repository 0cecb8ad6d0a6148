"""Published listings with chosen words, kinds, offers and owners, and searches over them,
for the search tests."""

from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.listings import service as listings
from marketplace.listings.models import Listing, ListingUpdate, Offer, OfferCreate, RoyaltyType
from marketplace.matching.models import NeedCreate
from marketplace.matching.search import SearchResult, search_listings
from tests import factories


def listed(
    session: Session,
    title: str,
    *,
    abstract: str = "与主题无关的摘要 unrelated summary",
    description: str | None = None,
    owner: Organization | None = None,
    ipc_codes: list[str] | None = None,
    type_digit: int = 1,
    offers: list[OfferCreate] | None = None,
    filing_date: date = date(2020, 3, 1),
) -> Listing:
    org = owner or factories.organization(session, kind=OrganizationKind.university)
    patent = factories.patent(
        session,
        org,
        title=title,
        ipc_codes=ipc_codes,
        type_digit=type_digit,
        filing_date=filing_date,
        evaluation_report_ref=None if type_digit == 1 else "ER-1",
    )
    patent.abstract = abstract
    draft = factories.draft_listing(session, org, patent_list=[patent], offers=offers)
    if description is not None:
        listings.update_listing(
            session=session, listing=draft, changes=ListingUpdate(description=description)
        )
    return factories.publish(session, draft)


def search(session: Session, q: str | None = None, **kwargs: object) -> SearchResult:
    return search_listings(session=session, q=q, **kwargs)  # type: ignore[arg-type]


def found(session: Session, q: str | None = None, **kwargs: object) -> list[int]:
    """The ids of the listings a search finds, in rank order."""
    return [hit.listing_id for hit in search(session, q, **kwargs).hits]


# Needs and offers -------------------------------------------------------------------------


def offer(royalty_type: RoyaltyType, term_years: int = 3, **amounts: Any) -> Offer:
    """An offer that is not stored, with the amounts given."""
    currency = amounts.pop("currency", "CNY")
    decimals: dict[str, Any] = {name: Decimal(str(value)) for name, value in amounts.items()}
    return Offer(
        listing_id=1,
        royalty_type=royalty_type,
        term_years=term_years,
        currency=currency,
        **decimals,
    )


def org(session: Session, kind: OrganizationKind = OrganizationKind.enterprise, **kw: Any) -> Any:
    return factories.organization(session, kind=kind, **kw)


def need_data(**overrides: Any) -> NeedCreate:
    values: dict[str, Any] = {"title": "锂电池 thermal management", "description": "cooling"}
    values.update(overrides)
    return NeedCreate.model_validate(values)
