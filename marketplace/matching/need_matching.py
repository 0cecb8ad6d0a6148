"""The published listings ranked for a technology need.

A bounded candidate set (the relevance model's ranking of the need's words, the same as the
listing search's, with the IPC subclasses of the best text matches, of the need's hints and of
the SME's interests as evidence) is scored in Python by a blend of factors, each in
[0, 1] with a weight (``MatchSettings``; the practical factors' weights scaled by the listing's
topical relevance, see ``weigh``): contribution = weight x value and score = the sum of
contributions. Only the candidates that can still reach the page get a cost estimate."""

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.config import MatchSettings, get_match_settings
from marketplace.db import any_of
from marketplace.listings import service as listings
from marketplace.listings.models import Offer
from marketplace.matching import relevance
from marketplace.matching.candidates import plan_each_search
from marketplace.matching.errors import NeedClosed
from marketplace.matching.factors import (
    FACTOR_DIGITS,
    CostEstimate,
    PricedOffer,
    active_licenses,
    best_ipc_proximity,
    budget_fit,
    contribution,
    estimate_total_cost,
    factor,
)
from marketplace.matching.models import (
    FactorPublic,
    ListingSearch,
    NeedMatch,
    NeedMatches,
    NeedStatus,
    TechnologyNeed,
)
from marketplace.matching.needs import find_profile
from marketplace.matching.search_index import split_joined


@dataclass(frozen=True, slots=True)
class Wants:
    """A need with the gaps filled from the SME's profile and organization."""

    terms: list[str]
    ipc_hints: list[str]
    budget: Decimal | None
    currency: str
    annual_sales: Decimal
    annual_units: int | None
    region: str | None
    country: str


def _wants(session: Session, need: TechnologyNeed) -> Wants:
    profile = find_profile(session=session, organization_id=need.organization_id)
    sme = session.get_one(Organization, need.organization_id)
    hints = list(dict.fromkeys([*need.ipc_codes, *(profile.ipc_interests if profile else [])]))
    budget = need.budget_max
    if budget is None and profile is not None and profile.currency == need.currency:
        budget = profile.budget_max
    sales = need.expected_annual_sales
    if sales is None and profile is not None:
        sales = profile.expected_annual_sales
    return Wants(
        terms=need.search_terms(),
        ipc_hints=hints,
        budget=budget,
        currency=need.currency,
        annual_sales=sales or Decimal(0),
        annual_units=need.expected_annual_units,
        region=need.region or (profile.region if profile else None) or sme.region,
        country=sme.country,
    )


def _match_candidates(session: Session, wants: Wants) -> dict[int, relevance.Ranked]:
    """Listing id -> its relevance to the need, bounded: the relevance model's ranking of the
    need's words (the same as the listing search's, any word, rarest first), with the IPC
    subclasses of its best text matches and of the need's hints and the SME's interests as
    evidence (up to ``ipc_candidates`` listings more in each)."""
    settings = get_match_settings()
    ranking = relevance.rank(
        session,
        terms=wants.terms,
        conditions=[],
        bound=settings.text_candidates,
        hints=wants.ipc_hints,
        class_candidates=settings.ipc_candidates,
    )
    return {r.candidate.listing_id: r for r in ranking.ranked}


_OFFER_COLUMNS = (
    col(Offer.id),
    col(Offer.listing_id),
    col(Offer.royalty_type),
    col(Offer.currency),
    col(Offer.upfront_fee),
    col(Offer.royalty_rate),
    col(Offer.per_unit_fee),
    col(Offer.minimum_annual),
    col(Offer.term_years),
)


def _offers_by_listing(
    session: Session, listing_ids: Sequence[int]
) -> dict[int, list[PricedOffer]]:
    """The offers of the candidates as column rows (ORM objects cost several times more)."""
    found: dict[int, list[Any]] = {}
    for row in session.execute(
        sa.select(*_OFFER_COLUMNS).where(any_of(session, col(Offer.listing_id), listing_ids))
    ):
        found.setdefault(row.listing_id, []).append(row)
    return found


def _best_offer(offers: Sequence[PricedOffer], wants: Wants) -> tuple[PricedOffer, CostEstimate]:
    """The cheapest offer over its term at the expected sales; offers in the need's currency
    before others (whose cost cannot be compared with the budget)."""
    estimates = [
        (
            offer,
            estimate_total_cost(
                offer, annual_sales=wants.annual_sales, annual_units=wants.annual_units
            ),
        )
        for offer in offers
    ]
    return min(
        estimates,
        key=lambda pair: (pair[1].currency != wants.currency, pair[1].total, pair[0].id or 0),
    )


@dataclass(slots=True)
class Candidate:
    """A candidate listing's factor values. ``partial`` is the sum of every contribution but the
    budget's, which needs the cost estimate (the expensive part) and is filled in only for the
    candidates that can still reach the page; ``bound`` is the score with full budget marks."""

    listing_id: int
    text: float
    ipc: float
    ipc_pair: str | None
    region: float
    licensor_region: str | None
    licensor_country: str
    years: float
    licenses: int
    words: list[str] = field(default_factory=list)
    # The IPC subclass, shared with the need's best text matches or hints, that raised it.
    subclass: str | None = None
    offers: list[PricedOffer] = field(default_factory=list)
    # The weight each factor counts with for this listing (see ``weigh``).
    weights: dict[str, float] = field(default_factory=dict)
    relevance: float = 1.0
    partial: float = 0.0
    bound: float = 0.0
    fit: float = 1.0
    offer: PricedOffer | None = None
    cost: CostEstimate | None = None
    score: float = 0.0


def _region_fit(wants: Wants, region: str | None, country: str) -> float:
    if wants.region and region and wants.region.casefold() == region.casefold():
        return 1.0
    return 0.5 if country == wants.country else 0.0


def _budget_fit(wants: Wants, cost: CostEstimate) -> float:
    if cost.currency != wants.currency:
        return 0.5
    return budget_fit(cost.total, wants.budget)


TOPICAL = ("text", "ipc")
PRACTICAL = ("budget", "region", "term", "uptake")


def weigh(match: Candidate, settings: MatchSettings) -> None:
    """Set the candidate's weights, partial score and bound.

    Text and IPC proximity say whether the listing is about what the SME needs; budget, region,
    term and uptake say how good a deal it is. A cheap, nearby patent on another subject is no
    match, so the practical factors count in proportion to the listing's topical relevance:
    their weights are the configured ones times ``relevance`` = (text and IPC contributions) /
    (their weights), in [0, 1]."""
    text = contribution(match.text, settings.weight_text)
    ipc = contribution(match.ipc, settings.weight_ipc)
    topical_weight = settings.weight_text + settings.weight_ipc
    match.relevance = (text + ipc) / topical_weight if topical_weight else 1.0
    relevance = match.relevance
    # The PRACTICAL weights, named one by one: read by name for each of 500 candidates, they
    # were a tenth of a need matching.
    budget = round(settings.weight_budget * relevance, FACTOR_DIGITS)
    region = round(settings.weight_region * relevance, FACTOR_DIGITS)
    term = round(settings.weight_term * relevance, FACTOR_DIGITS)
    uptake = round(settings.weight_uptake * relevance, FACTOR_DIGITS)
    match.weights = {
        "text": settings.weight_text,
        "ipc": settings.weight_ipc,
        "budget": budget,
        "region": region,
        "term": term,
        "uptake": uptake,
    }
    licensed = match.licenses / (match.licenses + settings.uptake_half)
    match.partial = (
        text
        + ipc
        + contribution(match.region, region)
        + contribution(match.years / settings.term_cap_years, term)
        + contribution(licensed, uptake)
    )
    match.bound = round(match.partial + contribution(1.0, budget), FACTOR_DIGITS)


def price(match: Candidate, wants: Wants) -> None:
    """Choose the candidate's best offer and complete its score with the budget fit."""
    match.offer, match.cost = _best_offer(match.offers, wants)
    match.fit = _budget_fit(wants, match.cost)
    match.score = round(
        match.partial + contribution(match.fit, match.weights["budget"]), FACTOR_DIGITS
    )


def _explain(match: Candidate, wants: Wants, settings: MatchSettings) -> dict[str, FactorPublic]:
    """Each factor of a priced match, with the reason for its value."""
    assert match.cost is not None
    cost = match.cost
    if cost.currency != wants.currency:
        budget_why = f"offer in {cost.currency}, budget in {wants.currency}: not compared"
    elif wants.budget is None:
        budget_why = f"no budget given; estimated {cost.total} {cost.currency}"
    else:
        relation = "within" if cost.total <= wants.budget else "over"
        budget_why = f"estimated {cost.total} {cost.currency} over {cost.years} years, "
        budget_why += f"{relation} the budget of {wants.budget}"
    if match.region == 1.0:
        region_why = f"licensor in {match.licensor_region}"
    elif match.region == 0.5:
        region_why = f"licensor in {match.licensor_region or match.licensor_country}, same country"
    else:
        region_why = f"licensor in {match.licensor_country}"
    licenses = match.licenses
    if match.relevance < 1:
        scaled = f"; counts x{match.relevance:.2f}, the listing's topical relevance"
        budget_why, region_why = budget_why + scaled, region_why + scaled
    else:
        scaled = ""
    return {
        "text": factor(
            match.text,
            settings.weight_text,
            _text_reason(match),
        ),
        "ipc": factor(
            match.ipc,
            settings.weight_ipc,
            "no IPC hints or interests"
            if not wants.ipc_hints
            else (match.ipc_pair or "no shared IPC section"),
        ),
        "budget": factor(match.fit, match.weights["budget"], budget_why),
        "region": factor(match.region, match.weights["region"], region_why),
        "term": factor(
            match.years / settings.term_cap_years,
            match.weights["term"],
            f"{match.years:.1f} years of patent term left "
            f"(full marks at {settings.term_cap_years}){scaled}",
        ),
        "uptake": factor(
            licenses / (licenses + settings.uptake_half),
            match.weights["uptake"],
            f"{licenses} active license{'s' if licenses != 1 else ''}{scaled}",
        ),
    }


def _text_reason(match: Candidate) -> str:
    """The words and the class that made the listing relevant."""
    reasons = []
    if match.words:
        reasons.append("words " + ", ".join(match.words[:8]))
    if match.subclass:
        reasons.append(f"in {match.subclass}, a class of the best text matches or of the hints")
    if not reasons:
        return "no words of the need in the listing"
    return "; ".join(reasons) + f": relevance {match.text:.0%} of the best match's"


OffersOf = Callable[[Sequence[int]], dict[int, list[PricedOffer]]]


def top_matches(
    matches: list[Candidate], wants: Wants, limit: int, offers_of: OffersOf
) -> list[Candidate]:
    """The ``limit`` best matches by score (ties: newer listing first), pricing as few as
    possible: a match's score is at most its ``bound`` (full budget marks), so once the bound
    falls below the page's last score no later candidate can enter the page. Offers are read
    (``offers_of``) a batch at a time, for the candidates about to be priced; a candidate
    without offers is left out. Each candidate must have been weighed (``weigh``)."""
    page: list[tuple[float, int, Candidate]] = []  # a min-heap on (score, listing id)
    ranked = sorted(matches, key=lambda m: (-m.bound, -m.listing_id))
    batch = max(2 * limit, 20)
    for start in range(0, len(ranked), batch):
        chunk = ranked[start : start + batch]
        if len(page) == limit and chunk[0].bound < page[0][0]:
            break
        offers = offers_of([match.listing_id for match in chunk])
        for match in chunk:
            if len(page) == limit and match.bound < page[0][0]:
                return _ranked(page)
            match.offers = offers.get(match.listing_id, [])
            if not match.offers:
                continue
            price(match, wants)
            entry = (match.score, match.listing_id, match)
            if len(page) < limit:
                heapq.heappush(page, entry)
            elif entry[:2] > page[0][:2]:
                heapq.heapreplace(page, entry)
    return _ranked(page)


def _ranked(page: list[tuple[float, int, Candidate]]) -> list[Candidate]:
    return [match for _, _, match in sorted(page, key=lambda e: (-e[0], -e[1]))]


def match_need(*, session: Session, need: TechnologyNeed, limit: int) -> NeedMatches:
    """Published listings for a need, best first by the blended score (limit only: the
    candidate set is bounded, so a page is all there is to rank)."""
    if need.status != NeedStatus.open:
        raise NeedClosed(f"Technology need {need.id} is closed.")
    settings = get_match_settings()
    plan_each_search(session)
    wants = _wants(session, need)
    found = _match_candidates(session, wants)
    if not found:
        return NeedMatches(items=[], candidates=0)
    ids = sorted(found)
    rows = session.execute(
        sa.select(
            col(ListingSearch.listing_id),
            col(ListingSearch.ipc_codes),
            col(ListingSearch.term_end_date),
            col(Organization.region),
            col(Organization.country),
        )
        .join(Organization, col(Organization.id) == col(ListingSearch.owner_id))
        .where(any_of(session, col(ListingSearch.listing_id), ids))
    ).all()
    licenses = active_licenses(session, ids)
    top = max(r.score for r in found.values()) or 1.0
    today = clock.today()
    matches: list[Candidate] = []
    for listing_id, ipc_codes, term_end, region, country in rows:
        ipc, pair = best_ipc_proximity(wants.ipc_hints, split_joined(ipc_codes))
        match = Candidate(
            listing_id=listing_id,
            text=found[listing_id].score / top,
            words=found[listing_id].matched,
            subclass=found[listing_id].subclass,
            ipc=ipc,
            ipc_pair=pair,
            region=_region_fit(wants, region, country),
            licensor_region=region,
            licensor_country=country,
            years=max((term_end - today).days, 0) / 365.25,
            licenses=licenses.get(listing_id, 0),
        )
        weigh(match, settings)
        matches.append(match)
    page = top_matches(matches, wants, limit, lambda ids: _offers_by_listing(session, ids))
    shown = {
        listing.id: listing
        for listing in listings.public_listings_in_order(
            session=session, listing_ids=[m.listing_id for m in page]
        )
    }
    items = []
    for match in page:
        if match.listing_id not in shown:
            continue
        assert match.offer is not None
        assert match.offer.id is not None
        assert match.cost is not None
        items.append(
            NeedMatch(
                listing=shown[match.listing_id],
                offer_id=match.offer.id,
                score=match.score,
                factors=_explain(match, wants, settings),
                estimated_total_cost=match.cost.public(),
            )
        )
    return NeedMatches(items=items, candidates=len(matches))
