"""SME profiles, technology needs, their ranked matches, and the demand a listing meets.

Who sees what: an enterprise keeps one profile and posts needs, and sees its own needs in full.
Verified universities and research institutes read open needs as demand, without the SME's
budget and sales figures. Another enterprise never learns that a need exists (404); banks,
platform admins and unverified licensors are refused (403).

Matching: a bounded candidate set (the search's text candidates for the need's words, any word,
plus the listings under each IPC interest's subclass) is scored in Python by a blend of factors,
each in [0, 1] with a weight (``MatchSettings``; the practical factors' weights scaled by the
listing's topical relevance, see ``weigh``): contribution = weight x value and score = the sum of
contributions. Only the candidates that can still reach the page get a cost estimate.

Demand counters: ``listing_demand_daily`` counts per listing and UTC day the views of a published
listing by anyone but its owner (signed in or not) and its appearances on the first page of a
``q`` search (any caller): one bulk upsert per request, in a savepoint, best effort (on SQLite a
reader's transaction that cannot take the write lock drops the count instead of failing the
read)."""

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.errors import OrganizationNotVerified
from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.config import MatchSettings, get_match_settings
from marketplace.db import any_of
from marketplace.licensing import royalties
from marketplace.licensing.models import License, LicenseStatus
from marketplace.listings import service as listings
from marketplace.listings.errors import ListingNotFound
from marketplace.listings.models import Listing, Offer, RoyaltyType
from marketplace.matching import search, search_index, tokenizer
from marketplace.matching.candidates import common_word_shares, find_candidates, plan_each_search
from marketplace.matching.errors import (
    NeedClosed,
    NeedNotFound,
    NeedsNotVisible,
    NotAnEnterprise,
    ProfileNotFound,
)
from marketplace.matching.models import (
    KEY_TERMS,
    CostBreakdown,
    DemandNeed,
    EstimatedCost,
    FactorPublic,
    ListingDemand,
    ListingDemandDaily,
    ListingSearch,
    NeedCreate,
    NeedMatch,
    NeedMatches,
    NeedPublic,
    NeedStatus,
    PatentProspect,
    Prospect,
    SavedSearch,
    SmeProfile,
    SmeProfilePublic,
    SmeProfileUpdate,
    TechnologyNeed,
)
from marketplace.pagination import InvalidCursor, decode_cursor, encode_cursor
from marketplace.params import MAX_ID
from marketplace.patents.identifiers import ipc_levels

# A word this share of listings have is too common to pick candidates by.
COMMON_WORD_SHARE = 0.05
READERS = frozenset({OrganizationKind.university, OrganizationKind.research_institute})
FACTOR_DIGITS = 4
DEMAND_WINDOW_DAYS = 30
# A need counts as demand for a listing from this relevance (see ``listing_demand``).
DEMAND_THRESHOLD = 0.25
MAX_DEMAND_NEEDS_SHOWN = 50
# A need counts for one patent when its IPC proximity or its share of words found reaches this.
PATENT_IPC_THRESHOLD = 0.6
PATENT_TEXT_THRESHOLD = 0.5
HIGH_PROSPECT = 8.0
MEDIUM_PROSPECT = 3.0


# Profiles --------------------------------------------------------------------------------------


def _require_enterprise(organization: Organization) -> None:
    if organization.kind != OrganizationKind.enterprise:
        raise NotAnEnterprise("Only enterprises keep SME profiles and post technology needs.")


def find_profile(*, session: Session, organization_id: int) -> SmeProfile | None:
    return session.get(SmeProfile, organization_id)


def get_profile(*, session: Session, organization: Organization) -> SmeProfile:
    """The caller's profile; 404 until the first PUT (there is no meaningful default budget)."""
    _require_enterprise(organization)
    assert organization.id is not None
    profile = find_profile(session=session, organization_id=organization.id)
    if profile is None:
        raise ProfileNotFound("Your organization has no SME profile yet; PUT one first.")
    return profile


def put_profile(
    *, session: Session, organization: Organization, data: SmeProfileUpdate
) -> SmeProfile:
    """Create or replace the caller's profile."""
    _require_enterprise(organization)
    assert organization.id is not None
    profile = find_profile(session=session, organization_id=organization.id)
    if profile is None:
        profile = SmeProfile(organization_id=organization.id)
    for name, value in data.model_dump().items():
        setattr(profile, name, list(dict.fromkeys(value)) if name == "ipc_interests" else value)
    profile.updated_at = clock.timestamp()
    session.add(profile)
    session.flush()
    return profile


def profile_public(profile: SmeProfile) -> SmeProfilePublic:
    return SmeProfilePublic.model_validate(profile.model_dump())


# Needs -----------------------------------------------------------------------------------------


def create_need(
    *, session: Session, organization: Organization, data: NeedCreate
) -> TechnologyNeed:
    _require_enterprise(organization)
    assert organization.id is not None
    values = data.model_dump()
    values["ipc_codes"] = list(dict.fromkeys(values["ipc_codes"]))
    need = TechnologyNeed(organization_id=organization.id, **values)
    session.add(need)
    session.flush()
    return need


def _check_reader(organization: Organization) -> None:
    if organization.kind == OrganizationKind.enterprise:
        return
    if organization.kind not in READERS:
        raise NeedsNotVisible("Only enterprises and verified licensors see technology needs.")
    if organization.verification != Verification.verified:
        raise OrganizationNotVerified(
            "Your organization must be verified before it can see technology needs."
        )


def _readable(need: TechnologyNeed, organization: Organization) -> bool:
    if need.organization_id == organization.id:
        return True
    return organization.kind in READERS and need.status == NeedStatus.open


def get_need(*, session: Session, need_id: int, reader: Organization) -> TechnologyNeed:
    _check_reader(reader)
    need = session.get(TechnologyNeed, need_id)
    if need is None or not _readable(need, reader):
        raise NeedNotFound(f"Technology need {need_id} does not exist.")
    return need


def get_own_need(*, session: Session, need_id: int, owner: Organization) -> TechnologyNeed:
    need = get_need(session=session, need_id=need_id, reader=owner)
    if need.organization_id != owner.id:
        # A licensor reading demand may see the need, but not rank listings for it.
        raise NeedNotFound(f"Technology need {need_id} does not exist.")
    return need


def list_needs(
    *, session: Session, reader: Organization, limit: int, cursor: str | None
) -> tuple[list[TechnologyNeed], str | None]:
    """An enterprise's own needs (every status), or for a verified licensor every open need;
    newest first, keyset pages on the id."""
    _check_reader(reader)
    statement = select(TechnologyNeed)
    if reader.kind == OrganizationKind.enterprise:
        statement = statement.where(TechnologyNeed.organization_id == reader.id)
    else:
        statement = statement.where(TechnologyNeed.status == NeedStatus.open)
    if cursor is not None:
        after = decode_cursor(cursor).get("id")
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= MAX_ID:
            raise InvalidCursor("The cursor is not one this API issued.")
        statement = statement.where(col(TechnologyNeed.id) < after)
    rows = list(session.scalars(statement.order_by(col(TechnologyNeed.id).desc()).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor({"id": page[-1].id}) if len(rows) > limit else None
    return page, next_cursor


def close_need(*, session: Session, need: TechnologyNeed) -> TechnologyNeed:
    """An open need stops being demand; closing twice is a conflict."""
    if need.status != NeedStatus.open:
        raise NeedClosed(f"Technology need {need.id} is already closed.")
    need.status = NeedStatus.closed
    need.closed_at = clock.timestamp()
    session.add(need)
    # Its saved searches stop alerting with it.
    session.execute(
        sa.update(SavedSearch)
        .where(col(SavedSearch.need_id) == need.id)
        .values(active=False)
        .execution_options(synchronize_session="evaluate")
    )
    session.flush()
    return need


def need_public(need: TechnologyNeed, *, reader_id: int) -> NeedPublic:
    values = need.model_dump()
    if need.organization_id != reader_id:
        values.update(budget_max=None, expected_annual_sales=None, expected_annual_units=None)
    return NeedPublic.model_validate(values)


# Factors ---------------------------------------------------------------------------------------


_PROXIMITY_BY_SHARED_LEVELS = {0: 0.0, 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}


@lru_cache(maxsize=65_536)
def ipc_proximity(hint: str, code: str) -> float:
    """1.0 for the same subgroup, or a code within a coarser hint (the SME asked for ``H01M``,
    and this is in ``H01M``); otherwise by the deepest level they share: main group 0.8,
    subclass 0.6, class 0.4, section 0.2, none 0."""
    a, b = ipc_levels(hint), ipc_levels(code)
    shared = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        shared += 1
    if shared == min(len(a), len(b)):
        return 1.0
    return _PROXIMITY_BY_SHARED_LEVELS[shared]


def best_ipc_proximity(hints: Iterable[str], codes: Iterable[str]) -> tuple[float, str | None]:
    """The closest pair: its proximity and an explanation."""
    best, why = 0.0, None
    code_list = list(codes)
    for hint in hints:
        for code in code_list:
            value = ipc_proximity(hint, code)
            if value > best:
                best, why = value, f"{code} against {hint}"
    return best, why


@dataclass(frozen=True, slots=True)
class CostEstimate:
    total: Decimal
    upfront_fee: Decimal
    annual_royalty: Decimal
    years: int
    currency: str
    minimum_annual: Decimal | None

    def public(self) -> EstimatedCost:
        return EstimatedCost(
            amount=self.total,
            currency=self.currency,
            breakdown=CostBreakdown(
                upfront_fee=self.upfront_fee,
                annual_royalty=self.annual_royalty,
                minimum_annual=self.minimum_annual,
                years=self.years,
                total=self.total,
            ),
        )


class PricedOffer(Protocol):
    """What a cost estimate reads of an offer: an ``Offer`` or a column row of one."""

    @property
    def id(self) -> int | None: ...
    @property
    def royalty_type(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def upfront_fee(self) -> Decimal | None: ...
    @property
    def royalty_rate(self) -> Decimal | None: ...
    @property
    def per_unit_fee(self) -> Decimal | None: ...
    @property
    def minimum_annual(self) -> Decimal | None: ...
    @property
    def term_years(self) -> int: ...


def estimate_total_cost(
    offer: PricedOffer, *, annual_sales: Decimal, annual_units: int | None
) -> CostEstimate:
    """What an offer costs over its whole term at the expected sales: the upfront fee, plus for
    each license year the year's royalty (running: rate x sales; per-unit: fee x units; hybrid:
    both) or the minimum annual royalty when higher. Exact, rounded once (as royalties are)."""
    terms = royalties.RoyaltyTerms(
        royalty_type=RoyaltyType(offer.royalty_type),
        currency=offer.currency,
        upfront_fee=offer.upfront_fee,
        rate_percent=offer.royalty_rate,
        per_unit_fee=offer.per_unit_fee,
        minimum_annual=offer.minimum_annual,
    )
    upfront = offer.upfront_fee or Decimal(0)
    annual = Decimal(0)
    yearly = Decimal(0)
    if terms.royalty_bearing:
        annual = royalties.exact_royalty(terms, net_sales=annual_sales, units=annual_units)
        yearly = max(annual, offer.minimum_annual or Decimal(0))
    total = upfront + yearly * offer.term_years
    try:
        rounded_total = royalties.round_amount(total, offer.currency)
        rounded_annual = royalties.round_amount(annual, offer.currency)
    except royalties.AmountTooLarge:
        rounded_total = rounded_annual = royalties.MAX_AMOUNT
    return CostEstimate(
        total=rounded_total,
        upfront_fee=upfront.quantize(royalties.CENT),
        annual_royalty=rounded_annual,
        years=offer.term_years,
        currency=offer.currency,
        minimum_annual=offer.minimum_annual,
    )


def budget_fit(cost: Decimal, budget: Decimal | None) -> float:
    """1 within the budget, then budget / cost (half at twice the budget); 1 without a budget."""
    if budget is None or cost <= budget:
        return 1.0
    return float(budget / cost)


def _clamped(value: float) -> float:
    return round(min(max(value, 0.0), 1.0), FACTOR_DIGITS)


def _contribution(value: float, weight: float) -> float:
    return round(_clamped(value) * weight, FACTOR_DIGITS)


def _factor(value: float, weight: float, explanation: str) -> FactorPublic:
    return FactorPublic(
        value=_clamped(value),
        weight=weight,
        contribution=_contribution(value, weight),
        explanation=explanation,
    )


# Matching --------------------------------------------------------------------------------------


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


def _match_candidates(session: Session, wants: Wants) -> dict[int, float]:
    """Listing id -> text score (0 for an IPC-only candidate), bounded.

    When more listings share a word with the need than the bound admits, the ones kept should be
    those that share the most: so the text candidates come in tiers, each filling what the one
    before left: listings with two of the need's distinctive key words (its first ``KEY_TERMS``,
    title first, less the common ones), then with any word of the need. Every candidate is
    scored alike, over all the need's words. Then up to ``ipc_candidates`` more per IPC subclass
    of interest.

    A word that at least ``COMMON_WORD_SHARE`` of the listings have (PostgreSQL's statistics)
    is left out of the first tier: requiring it narrows little, and reading its index entries
    is what such a tier costs at scale (at 1,000,000 listings, 130 ms for a need with a word in
    a quarter of them, against under 10 ms without).

    (A tier of three key words in common was tried: at 1,000,000 listings on PostgreSQL its
    twenty word combinations cost 45-80 ms a need, the two-word tier 7-22 ms.)"""
    settings = get_match_settings()
    found: dict[int, float] = {}
    key = wants.terms[:KEY_TERMS]  # the need's key_terms()
    shares = common_word_shares(session, key)
    distinctive = [word for word in key if shares.get(word, 0.0) < COMMON_WORD_SHARE]
    tiers = ([2] if len(distinctive) >= 2 else []) + ([1] if key else [])
    for count in tiers:
        room = settings.text_candidates - len(found)
        if room <= 0:
            break
        for candidate in find_candidates(
            session,
            terms=wants.terms,
            any_term=True,
            conditions=[],
            limit=room,
            at_least=distinctive if count > 1 else None,
            at_least_count=count,
            exclude=list(found),
        ):
            found[candidate.listing_id] = candidate.score or 0.0
    today = clock.today()
    for prefix in dict.fromkeys(hint[:4] for hint in wants.ipc_hints):
        conditions = search.filter_conditions(
            session, search.SearchFilters(ipc=prefix), today=today
        )
        for candidate in find_candidates(
            session,
            terms=[],
            any_term=False,
            conditions=conditions,
            limit=settings.ipc_candidates,
            exclude=list(found),
        ):
            found[candidate.listing_id] = 0.0
    return found


def _active_licenses(session: Session, listing_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        sa.select(col(License.listing_id), sa.func.count())
        .where(
            any_of(session, col(License.listing_id), listing_ids),
            col(License.status) == LicenseStatus.active,
        )
        .group_by(col(License.listing_id))
    ).all()
    return {int(listing_id): int(count) for listing_id, count in rows}


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
    text = _contribution(match.text, settings.weight_text)
    ipc = _contribution(match.ipc, settings.weight_ipc)
    topical_weight = settings.weight_text + settings.weight_ipc
    match.relevance = (text + ipc) / topical_weight if topical_weight else 1.0
    match.weights = {"text": settings.weight_text, "ipc": settings.weight_ipc}
    for name in PRACTICAL:
        configured = getattr(settings, f"weight_{name}")
        match.weights[name] = round(configured * match.relevance, FACTOR_DIGITS)
    uptake = match.licenses / (match.licenses + settings.uptake_half)
    match.partial = (
        text
        + ipc
        + _contribution(match.region, match.weights["region"])
        + _contribution(match.years / settings.term_cap_years, match.weights["term"])
        + _contribution(uptake, match.weights["uptake"])
    )
    match.bound = round(match.partial + _contribution(1.0, match.weights["budget"]), FACTOR_DIGITS)


def price(match: Candidate, wants: Wants) -> None:
    """Choose the candidate's best offer and complete its score with the budget fit."""
    match.offer, match.cost = _best_offer(match.offers, wants)
    match.fit = _budget_fit(wants, match.cost)
    match.score = round(
        match.partial + _contribution(match.fit, match.weights["budget"]), FACTOR_DIGITS
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
        "text": _factor(
            match.text,
            settings.weight_text,
            "no words of the need in the listing"
            if match.text == 0
            else f"search rank {match.text:.0%} of the best text match's",
        ),
        "ipc": _factor(
            match.ipc,
            settings.weight_ipc,
            "no IPC hints or interests"
            if not wants.ipc_hints
            else (match.ipc_pair or "no shared IPC section"),
        ),
        "budget": _factor(match.fit, match.weights["budget"], budget_why),
        "region": _factor(match.region, match.weights["region"], region_why),
        "term": _factor(
            match.years / settings.term_cap_years,
            match.weights["term"],
            f"{match.years:.1f} years of patent term left "
            f"(full marks at {settings.term_cap_years}){scaled}",
        ),
        "uptake": _factor(
            licenses / (licenses + settings.uptake_half),
            match.weights["uptake"],
            f"{licenses} active license{'s' if licenses != 1 else ''}{scaled}",
        ),
    }


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
    texts = _match_candidates(session, wants)
    if not texts:
        return NeedMatches(items=[], candidates=0)
    ids = sorted(texts)
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
    licenses = _active_licenses(session, ids)
    top_text = max(texts.values()) or 1.0
    today = clock.today()
    matches: list[Candidate] = []
    for listing_id, ipc_codes, term_end, region, country in rows:
        ipc, pair = best_ipc_proximity(wants.ipc_hints, search_index.split_joined(ipc_codes))
        match = Candidate(
            listing_id=listing_id,
            text=texts[listing_id] / top_text,
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
    found = {
        listing.id: listing
        for listing in listings.public_listings_in_order(
            session=session, listing_ids=[m.listing_id for m in page]
        )
    }
    items = []
    for match in page:
        if match.listing_id not in found:
            continue
        assert match.offer is not None
        assert match.offer.id is not None
        assert match.cost is not None
        items.append(
            NeedMatch(
                listing=found[match.listing_id],
                offer_id=match.offer.id,
                score=match.score,
                factors=_explain(match, wants, settings),
                estimated_total_cost=match.cost.public(),
            )
        )
    return NeedMatches(items=items, candidates=len(matches))


# Demand ----------------------------------------------------------------------------------------


def _upsert(session: Session, rows: list[dict[str, Any]], column: str) -> None:
    table = ListingDemandDaily.__table__  # type: ignore[attr-defined]
    dialect = search_index.dialect_name(session)
    insert: Any = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    statement = insert.values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["listing_id", "day"],
        set_={column: table.c[column] + statement.excluded[column]},
    )
    try:
        with session.begin_nested():
            session.execute(statement)
    except sa.exc.OperationalError:
        if dialect == "postgresql":
            raise
        # SQLite: a read transaction that cannot take the write lock now; the count is lost.


def record_views(*, session: Session, listing_ids: Iterable[int]) -> None:
    """One more view of each listing today (one statement, ids in order: no deadlocks)."""
    ids = sorted(set(listing_ids))
    if ids:
        today = clock.today()
        _upsert(
            session,
            [{"listing_id": i, "day": today, "views": 1, "search_hits": 0} for i in ids],
            "views",
        )


def record_search_hits(*, session: Session, listing_ids: Iterable[int]) -> None:
    """One more search appearance of each listing today."""
    ids = sorted(set(listing_ids))
    if ids:
        today = clock.today()
        _upsert(
            session,
            [{"listing_id": i, "day": today, "views": 0, "search_hits": 1} for i in ids],
            "search_hits",
        )


def _word_share(terms: Sequence[str], words: set[str]) -> float:
    return sum(term in words for term in terms) / len(terms) if terms else 0.0


def _patent_words(title: str, abstract: str | None) -> set[str]:
    return set(tokenizer.index_tokens(title)) | set(tokenizer.index_tokens(abstract))


def prospect_of(signal: float) -> Prospect:
    if signal >= HIGH_PROSPECT:
        return Prospect.high
    if signal >= MEDIUM_PROSPECT:
        return Prospect.medium
    return Prospect.low


def get_listing_demand(*, session: Session, listing_id: int, organization_id: int) -> ListingDemand:
    """The demand of the caller's own listing; anyone else's is not found."""
    listing = listings.get_visible_listing(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if listing.owner_id != organization_id:
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return listing_demand(session=session, listing=listing)


def listing_demand(*, session: Session, listing: Listing) -> ListingDemand:
    """The demand a listing meets: the open needs it is relevant to (the most recent
    ``demand_needs``, each scored against this listing's words and IPC codes), its view and
    search counts, and per patent an industrialisation prospect.

    A need's relevance = 0.5 x (share of its words found in the listing) + 0.5 x (best IPC
    proximity); it counts from 0.25. Per patent, signal = 2 x needs relevant to that patent (IPC
    proximity ≥ 0.6 to its codes, or half its words in its title and abstract) + views in 30 days
    / 10 + search hits in 30 days / 50 + 3 x active licenses of the listing; high from 8, medium
    from 3, else low."""
    assert listing.id is not None
    settings = get_match_settings()
    since = clock.today() - timedelta(days=DEMAND_WINDOW_DAYS - 1)
    table = ListingDemandDaily
    totals = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(col(table.views)), 0),
            sa.func.coalesce(sa.func.sum(col(table.search_hits)), 0),
            sa.func.coalesce(
                sa.func.sum(sa.case((col(table.day) >= since, col(table.views)), else_=0)), 0
            ),
            sa.func.coalesce(
                sa.func.sum(sa.case((col(table.day) >= since, col(table.search_hits)), else_=0)),
                0,
            ),
        ).where(col(table.listing_id) == listing.id)
    ).one()
    views_total, hits_total, views_30, hits_30 = (int(value) for value in totals)
    active = _active_licenses(session, [listing.id]).get(listing.id, 0)
    document = search_index.listing_document(listing)
    listing_words = set(document.title) | set(document.body)
    listing_codes = [code for patent in listing.patents for code in patent.ipc_codes]
    patent_words = {p.id: _patent_words(p.title, p.abstract) for p in listing.patents}
    per_patent = dict.fromkeys(patent_words, 0)
    needs = session.scalars(
        select(TechnologyNeed)
        .where(TechnologyNeed.status == NeedStatus.open)
        .order_by(col(TechnologyNeed.id).desc())
        .limit(settings.demand_needs)
    )
    relevant: list[DemandNeed] = []
    for need in needs:
        terms = need.search_terms()
        ipc, _ = best_ipc_proximity(need.ipc_codes, listing_codes)
        relevance = 0.5 * _word_share(terms, listing_words) + 0.5 * ipc
        if relevance < DEMAND_THRESHOLD:
            continue
        assert need.id is not None
        relevant.append(
            DemandNeed(
                need_id=need.id,
                title=need.title,
                region=need.region,
                relevance=round(relevance, FACTOR_DIGITS),
                ipc_proximity=ipc,
                created_at=need.created_at,
            )
        )
        for patent in listing.patents:
            patent_ipc, _ = best_ipc_proximity(need.ipc_codes, patent.ipc_codes)
            share = _word_share(terms, patent_words[patent.id])
            if patent_ipc >= PATENT_IPC_THRESHOLD or share >= PATENT_TEXT_THRESHOLD:
                per_patent[patent.id] += 1
    relevant.sort(key=lambda n: (-n.relevance, -n.need_id))
    shared_signal = views_30 / 10 + hits_30 / 50 + 3 * active
    prospects = []
    for patent_id, count in per_patent.items():
        assert patent_id is not None
        signal = round(2 * count + shared_signal, 2)
        prospects.append(
            PatentProspect(
                patent_id=patent_id,
                matching_needs=count,
                signal=signal,
                prospect=prospect_of(signal),
            )
        )
    return ListingDemand(
        listing_id=listing.id,
        matching_needs=relevant[:MAX_DEMAND_NEEDS_SHOWN],
        views_total=views_total,
        views_last_30_days=views_30,
        search_hits_total=hits_total,
        search_hits_last_30_days=hits_30,
        active_licenses=active,
        patents=prospects,
    )
