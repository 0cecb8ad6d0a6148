"""The needs service without HTTP: total-cost arithmetic, IPC proximity, ranking, visibility,
demand counters and prospects."""

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from marketplace.accounts.errors import OrganizationNotVerified
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_match_settings
from marketplace.licensing import service as licensing
from marketplace.listings.models import Offer, RoyaltyType
from marketplace.matching import needs
from marketplace.matching.errors import (
    NeedClosed,
    NeedNotFound,
    NeedsNotVisible,
    NotAnEnterprise,
    ProfileNotFound,
)
from marketplace.matching.models import (
    ListingDemandDaily,
    NeedCreate,
    Prospect,
    SmeProfileUpdate,
    TechnologyNeed,
)
from tests import factories
from tests.matching.helpers import listed


def offer(royalty_type: RoyaltyType, term_years: int = 3, **amounts: Any) -> Offer:
    return Offer(
        listing_id=1,
        royalty_type=royalty_type,
        term_years=term_years,
        currency=amounts.pop("currency", "CNY"),
        **{name: Decimal(str(value)) for name, value in amounts.items()},
    )


def cost(o: Offer, sales: str = "1000000", units: int | None = None) -> Decimal:
    return needs.estimate_total_cost(o, annual_sales=Decimal(sales), annual_units=units).total


# Total cost ------------------------------------------------------------------------------------


def test_lump_sum_costs_its_upfront_fee_whatever_the_sales() -> None:
    assert cost(offer(RoyaltyType.lump_sum, 5, upfront_fee="300000")) == Decimal("300000.00")
    assert cost(offer(RoyaltyType.lump_sum, 5, upfront_fee="300000"), "0") == Decimal("300000.00")


def test_running_royalty_is_rate_times_sales_each_year_or_the_minimum() -> None:
    assert cost(offer(RoyaltyType.running, 3, royalty_rate="3.5")) == Decimal("105000.00")
    with_minimum = offer(RoyaltyType.running, 3, royalty_rate="1", minimum_annual="20000")
    assert cost(with_minimum) == Decimal("60000.00")  # 10,000 a year is under the minimum


def test_per_unit_royalty_is_fee_times_units() -> None:
    per_unit = offer(RoyaltyType.per_unit, 2, per_unit_fee="2.50")
    assert cost(per_unit, units=10_000) == Decimal("50000.00")
    # Without expected units only the minimum (here none) can be estimated.
    assert cost(per_unit, units=None) == Decimal("0.00")


def test_hybrid_is_entry_fee_plus_running_royalty() -> None:
    hybrid = offer(RoyaltyType.hybrid, 3, upfront_fee="50000", royalty_rate="3.5")
    estimate = needs.estimate_total_cost(hybrid, annual_sales=Decimal(1_000_000), annual_units=0)
    assert estimate.total == Decimal("155000.00")
    assert estimate.upfront_fee == Decimal("50000.00")
    assert estimate.annual_royalty == Decimal("35000.00")
    assert estimate.years == 3


def test_total_is_rounded_once() -> None:
    # 0.505 a year: rounded each year it would be 3 x 0.51 = 1.53; exactly it is 1.515 -> 1.52.
    assert cost(offer(RoyaltyType.running, 3, royalty_rate="0.5"), "101") == Decimal("1.52")
    yen = offer(RoyaltyType.running, 1, royalty_rate="3.3333", currency="JPY")
    assert cost(yen, "1001") == Decimal("33.00")


@given(
    upfront=st.decimals(min_value=1, max_value=10**9, places=2),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=100, places=4),
    sales=st.decimals(min_value=0, max_value=10**10, places=2),
    years=st.integers(min_value=1, max_value=20),
)
def test_hybrid_cost_matches_the_formula(
    upfront: Decimal, rate: Decimal, sales: Decimal, years: int
) -> None:
    hybrid = offer(RoyaltyType.hybrid, years, upfront_fee=upfront, royalty_rate=rate)
    expected = (upfront + sales * rate / 100 * years).quantize(Decimal("0.01"), "ROUND_HALF_UP")
    assert cost(hybrid, str(sales)) == expected


@st.composite
def candidates(draw: st.DrawFn) -> list[needs.Candidate]:
    """Candidates whose non-budget contributions often tie, with one to three offers each, in
    two currencies and every royalty type."""
    found = []
    for listing_id in draw(st.lists(st.integers(1, 500), min_size=1, max_size=40, unique=True)):
        offers = []
        for number in range(draw(st.integers(1, 3))):
            royalty_type = draw(st.sampled_from(list(RoyaltyType)))
            made = offer(
                royalty_type,
                draw(st.integers(1, 10)),
                currency=draw(st.sampled_from(["CNY", "CNY", "USD"])),
                upfront_fee=draw(st.integers(0, 400_000)),
                royalty_rate=draw(st.sampled_from(["0.5", "2", "5"])),
                per_unit_fee=draw(st.sampled_from(["0.2", "3"])),
            )
            made.id = listing_id * 10 + number
            offers.append(made)
        if draw(st.integers(0, 9)) == 0:
            offers = []  # a listing without offers is left out
        found.append(
            needs.Candidate(
                listing_id=listing_id,
                offers=offers,
                text=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
                ipc=draw(st.sampled_from([0.0, 0.6, 1.0])),
                ipc_pair=None,
                region=draw(st.sampled_from([0.0, 0.5, 1.0])),
                licensor_region=None,
                licensor_country="CN",
                years=draw(st.sampled_from([0.0, 4.0, 12.0])),
                licenses=draw(st.integers(0, 3)),
            )
        )
    return found


def _wants(budget: str | None) -> needs.Wants:
    return needs.Wants(
        terms=[],
        ipc_hints=[],
        budget=Decimal(budget) if budget else None,
        currency="CNY",
        annual_sales=Decimal(1_500_000),
        annual_units=20_000,
        region=None,
        country="CN",
    )


def _candidate(
    listing_id: int, text: float, upfront_fee: int, match_settings: needs.MatchSettings
) -> needs.Candidate:
    made = offer(RoyaltyType.lump_sum, 5, upfront_fee=upfront_fee)
    made.id = listing_id
    candidate = needs.Candidate(
        listing_id=listing_id,
        text=text,
        ipc=0.0,
        ipc_pair=None,
        region=0.0,
        licensor_region=None,
        licensor_country="CN",
        years=0.0,
        licenses=0,
        offers=[made],
    )
    needs.weigh(candidate, match_settings)
    return candidate


def test_a_cheaper_listing_behind_on_the_other_factors_can_still_top_the_page() -> None:
    match_settings = needs.MatchSettings()
    pricey = _candidate(1, 1.0, 400_000, match_settings)
    cheap = _candidate(2, 0.9, 50_000, match_settings)
    assert pricey.partial > cheap.partial
    offers = {c.listing_id: c.offers for c in (pricey, cheap)}
    page = needs.top_matches(
        [pricey, cheap], _wants("100000"), 1, lambda ids: {i: offers[i] for i in ids}
    )
    assert [c.listing_id for c in page] == [2]
    assert page[0].score > pricey.partial


def test_practical_factors_count_in_proportion_to_topical_relevance() -> None:
    match_settings = needs.MatchSettings()
    on_topic = _candidate(1, 1.0, 0, match_settings)
    off_topic = _candidate(2, 0.1, 0, match_settings)
    assert on_topic.weights["budget"] == pytest.approx(0.15 * 0.35 / 0.6, abs=1e-4)
    assert off_topic.weights["budget"] == pytest.approx(0.15 * 0.035 / 0.6, abs=1e-4)
    for candidate in (on_topic, off_topic):
        needs.price(candidate, _wants(None))
        assert candidate.weights["text"] == 0.35
    # Full budget marks lift the listing on topic far more than the one off it.
    assert on_topic.score - on_topic.partial > 5 * (off_topic.score - off_topic.partial)


@settings(max_examples=300)
@given(
    found=candidates(),
    budget=st.sampled_from([None, "50000", "300000", "2000000"]),
    weight_budget=st.sampled_from([0.0, 0.15, 0.6, 2.0]),
    limit=st.integers(1, 12),
)
def test_top_matches_prices_few_yet_equals_pricing_every_candidate(
    found: list[needs.Candidate], budget: str | None, weight_budget: float, limit: int
) -> None:
    match_settings = needs.MatchSettings(weight_budget=weight_budget)
    wants = _wants(budget)
    for candidate in found:
        needs.weigh(candidate, match_settings)
    offers = {candidate.listing_id: candidate.offers for candidate in found}
    read: list[int] = []

    def offers_of(ids: Sequence[int]) -> dict[int, list[needs.PricedOffer]]:
        read.extend(ids)
        return {i: list(offers[i]) for i in ids if offers[i]}

    page = needs.top_matches(found, wants, limit, offers_of)
    assert len(read) == len(set(read))
    priced = [c for c in found if offers[c.listing_id]]
    for candidate in priced:  # the reference: price every candidate, sort them all
        candidate.offers = offers[candidate.listing_id]
        needs.price(candidate, wants)
    expected = sorted(priced, key=lambda c: (-c.score, -c.listing_id))[:limit]
    assert [(c.listing_id, c.score) for c in page] == [(c.listing_id, c.score) for c in expected]
    assert all(c.offer is not None for c in page)


def test_budget_fit_is_one_within_budget_and_decays_above() -> None:
    assert needs.budget_fit(Decimal(100), Decimal(100)) == 1.0
    assert needs.budget_fit(Decimal(200), Decimal(100)) == 0.5
    assert needs.budget_fit(Decimal(400), Decimal(100)) == 0.25
    assert needs.budget_fit(Decimal(400), None) == 1.0


# IPC proximity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "code", "expected"),
    [
        ("H01M 10/0525", "H01M 10/0525", 1.0),
        ("H01M 10/0525", "H01M 10/44", 0.8),
        ("H01M 10/0525", "H01M 4/00", 0.6),
        ("H01M 10/0525", "H01B 1/00", 0.4),
        ("H01M 10/0525", "H02J 7/00", 0.2),
        ("H01M 10/0525", "G06F 16/33", 0.0),
        ("H01M", "H01M 10/0525", 1.0),
        ("H01M 10", "H01M 10/44", 1.0),
        ("H01M 10", "H01M 4/00", 0.6),
        ("H", "H02J 7/00", 1.0),
    ],
)
def test_ipc_proximity_by_the_deepest_shared_level(hint: str, code: str, expected: float) -> None:
    assert needs.ipc_proximity(hint, code) == expected


def test_best_ipc_pair_is_chosen() -> None:
    value, why = needs.best_ipc_proximity(["G06F", "H01M 10/0525"], ["H01M 10/44", "A01B 1/00"])
    assert value == 0.8
    assert why == "H01M 10/44 against H01M 10/0525"


# Profiles and needs ----------------------------------------------------------------------------


def org(session: Session, kind: OrganizationKind = OrganizationKind.enterprise, **kw: Any) -> Any:
    return factories.organization(session, kind=kind, **kw)


def need_data(**overrides: Any) -> NeedCreate:
    values: dict[str, Any] = {"title": "锂电池 thermal management", "description": "cooling"}
    values.update(overrides)
    return NeedCreate.model_validate(values)


def test_profile_is_not_found_before_the_first_put_then_replaced(session: Session) -> None:
    sme = org(session)
    with pytest.raises(ProfileNotFound):
        needs.get_profile(session=session, organization=sme)
    data = SmeProfileUpdate(ipc_interests=["h01m 10", "H01M 10"], budget_max=Decimal(5))
    needs.put_profile(session=session, organization=sme, data=data)
    profile = needs.get_profile(session=session, organization=sme)
    assert profile.ipc_interests == ["H01M 10"]
    needs.put_profile(session=session, organization=sme, data=SmeProfileUpdate(industry="EV"))
    profile = needs.get_profile(session=session, organization=sme)
    assert (profile.industry, profile.budget_max, profile.ipc_interests) == ("EV", None, [])


def test_only_enterprises_keep_profiles_and_post_needs(session: Session) -> None:
    university = org(session, OrganizationKind.university)
    with pytest.raises(NotAnEnterprise):
        needs.put_profile(session=session, organization=university, data=SmeProfileUpdate())
    with pytest.raises(NotAnEnterprise):
        needs.create_need(session=session, organization=university, data=need_data())
    assert session.exec(select(TechnologyNeed)).all() == []


def test_need_visibility(session: Session) -> None:
    sme = org(session)
    need = needs.create_need(
        session=session, organization=sme, data=need_data(budget_max=Decimal(9))
    )
    assert need.id is not None
    university = org(session, OrganizationKind.university)
    seen = needs.get_need(session=session, need_id=need.id, reader=university)
    public = needs.need_public(seen, reader_id=university.id or 0)
    assert public.budget_max is None
    assert needs.need_public(seen, reader_id=sme.id or 0).budget_max == Decimal(9)
    with pytest.raises(NeedNotFound):
        needs.get_need(session=session, need_id=need.id, reader=org(session))
    with pytest.raises(NeedsNotVisible):
        needs.get_need(session=session, need_id=need.id, reader=org(session, OrganizationKind.bank))
    unverified = org(session, OrganizationKind.university, verified=False)
    with pytest.raises(OrganizationNotVerified):
        needs.get_need(session=session, need_id=need.id, reader=unverified)
    # A licensor may read the need, but not rank listings for it.
    with pytest.raises(NeedNotFound):
        needs.get_own_need(session=session, need_id=need.id, owner=university)
    needs.close_need(session=session, need=need)
    with pytest.raises(NeedClosed):
        needs.close_need(session=session, need=need)
    with pytest.raises(NeedNotFound):
        needs.get_need(session=session, need_id=need.id, reader=university)
    assert needs.get_need(session=session, need_id=need.id, reader=sme) is need


def test_list_needs_pages_own_or_open(session: Session) -> None:
    sme, other = org(session), org(session)
    mine = [needs.create_need(session=session, organization=sme, data=need_data()) for _ in "abc"]
    theirs = needs.create_need(session=session, organization=other, data=need_data())
    needs.close_need(session=session, need=mine[0])
    first, cursor = needs.list_needs(session=session, reader=sme, limit=2, cursor=None)
    assert [n.id for n in first] == [mine[2].id, mine[1].id]
    rest, end = needs.list_needs(session=session, reader=sme, limit=2, cursor=cursor)
    assert ([n.id for n in rest], end) == ([mine[0].id], None)
    university = org(session, OrganizationKind.research_institute)
    seen, _ = needs.list_needs(session=session, reader=university, limit=50, cursor=None)
    assert [n.id for n in seen] == [theirs.id, mine[2].id, mine[1].id]


# Ranking ---------------------------------------------------------------------------------------


def match_ids(session: Session, need: TechnologyNeed) -> list[int]:
    return [m.listing.id for m in needs.match_need(session=session, need=need, limit=50).items]


def test_relevant_listing_outranks_irrelevant_and_factors_sum_to_score(session: Session) -> None:
    relevant = listed(session, "锂电池 热管理 thermal management system", ipc_codes=["A01B 1/00"])
    other = listed(session, "Gearbox for tractors", ipc_codes=["A01B 1/00"])
    sme = org(session)
    need = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="thermal management", description="锂电池", ipc_codes=["A01B"]),
    )
    result = needs.match_need(session=session, need=need, limit=10)
    assert [m.listing.id for m in result.items] == [relevant.id, other.id]
    assert result.candidates == 2
    for item in result.items:
        assert set(item.factors) == {"text", "ipc", "budget", "region", "term", "uptake"}
        total = sum(f.contribution for f in item.factors.values())
        assert item.score == pytest.approx(total, abs=1e-3)
        for factor in item.factors.values():
            assert 0 <= factor.value <= 1
            assert factor.contribution == pytest.approx(factor.value * factor.weight, abs=1e-4)
    top, bottom = result.items
    assert top.factors["text"].value == 1.0
    assert bottom.factors["text"].value == 0.0
    assert top.factors["ipc"].value == 1.0


def test_ipc_proximity_orders_listings_without_words_in_common(session: Session) -> None:
    owner = org(session, OrganizationKind.university)
    codes = ["H01M 10/0525", "H01M 10/44", "H01M 4/00"]
    made = [listed(session, f"Device {i}", owner=owner, ipc_codes=[c]) for i, c in enumerate(codes)]
    need = needs.create_need(
        session=session,
        organization=org(session),
        data=need_data(title="zzqx", description="qqzx", ipc_codes=["H01M 10/0525"]),
    )
    assert match_ids(session, need) == [listing.id for listing in made]


def test_profile_interests_stand_in_for_missing_hints(session: Session) -> None:
    wanted = listed(session, "Device", ipc_codes=["C07D 1/00"])
    listed(session, "Device", ipc_codes=["A01B 1/00"])
    sme = org(session)
    needs.put_profile(
        session=session, organization=sme, data=SmeProfileUpdate(ipc_interests=["C07D"])
    )
    need = needs.create_need(session=session, organization=sme, data=need_data())
    assert match_ids(session, need)[0] == wanted.id


def test_budget_fit_changes_the_ranking_and_the_cheapest_offer_is_chosen(
    session: Session,
) -> None:
    owner = org(session, OrganizationKind.university)
    cheap = listed(
        session,
        "battery cooling",
        owner=owner,
        offers=[
            factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("500000")),
            factories.offer_data(royalty_type="running", royalty_rate=Decimal("2")),
        ],
    )
    dear = listed(
        session,
        "battery cooling",
        owner=owner,
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("900000"))],
    )
    sme = org(session)
    unlimited = needs.create_need(
        session=session, organization=sme, data=need_data(title="battery cooling")
    )
    # Without a budget both fit fully and tie: the later listing comes first.
    assert match_ids(session, unlimited) == [dear.id, cheap.id]
    budgeted = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(
            title="battery cooling",
            budget_max=Decimal("100000"),
            expected_annual_sales=Decimal("1000000"),
        ),
    )
    result = needs.match_need(session=session, need=budgeted, limit=10)
    assert [m.listing.id for m in result.items] == [cheap.id, dear.id]
    best, other = result.items
    assert best.offer_id == cheap.offers[1].id  # the running offer: 2 % of 1,000,000 x 3 years
    assert best.estimated_total_cost.amount == Decimal("60000.00")
    assert best.estimated_total_cost.breakdown.annual_royalty == Decimal("20000.00")
    assert best.factors["budget"].value == 1.0
    assert other.factors["budget"].value == pytest.approx(100000 / 900000, abs=1e-4)
    assert other.estimated_total_cost.amount == Decimal("900000.00")
    assert best.score - other.score == pytest.approx(
        best.factors["budget"].contribution - other.factors["budget"].contribution, abs=1e-3
    )


def test_region_term_and_uptake_factors(session: Session) -> None:
    near = listed(
        session,
        "battery cooling",
        owner=org(session, OrganizationKind.university, region="Zhejiang"),
        filing_date=date(2021, 6, 1),
    )
    far = listed(
        session,
        "battery cooling",
        owner=org(session, OrganizationKind.university, region="Jilin"),
        filing_date=date(2010, 1, 1),
    )
    sme = org(session, region="Zhejiang")
    need = needs.create_need(
        session=session, organization=sme, data=need_data(title="battery cooling")
    )
    items = {m.listing.id: m for m in needs.match_need(session=session, need=need, limit=5).items}
    assert items[near.id].factors["region"].value == 1.0
    assert items[far.id].factors["region"].value == 0.5
    assert items[near.id].factors["term"].value > items[far.id].factors["term"].value
    assert list(items) == [near.id, far.id]
    assert items[far.id].factors["uptake"].value == 0.0
    for number in range(3):
        licensing.accept_offer(
            session=session,
            offer_id=far.offers[0].id or 0,
            licensee=org(session),
            user=None,
            idempotency_key=f"uptake-{number}",
        )
    items = {m.listing.id: m for m in needs.match_need(session=session, need=need, limit=5).items}
    uptake = items[far.id].factors["uptake"]
    assert uptake.value == 0.5
    # No IPC hints: the text factor alone (0.35 of 0.6) makes the topical relevance.
    assert uptake.weight == pytest.approx(0.1 * 0.35 / 0.6, abs=1e-4)
    assert uptake.contribution == pytest.approx(uptake.value * uptake.weight, abs=1e-4)
    assert uptake.explanation == "3 active licenses; counts x0.58, the listing's topical relevance"


def test_text_candidates_prefer_listings_sharing_more_key_words(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More listings share one word with the need than the bound admits; the ones that share
    # three words must still be among the candidates, and first.
    for number in range(12):
        listed(session, f"锂电池 产品 {number}")
    best = listed(session, "锂电池 散热 液冷板")
    second = listed(session, "锂电池 散热 装置")
    need = needs.create_need(
        session=session,
        organization=org(session),
        data=need_data(title="锂电池 散热 液冷板", description="需要 方案"),
    )
    monkeypatch.setenv("MARKETPLACE_MATCH_TEXT_CANDIDATES", "10")
    get_match_settings.cache_clear()
    try:
        result = needs.match_need(session=session, need=need, limit=3)
    finally:
        monkeypatch.undo()
        get_match_settings.cache_clear()
    assert result.candidates == 10
    assert [m.listing.id for m in result.items][:2] == [best.id, second.id]


def test_closed_need_has_no_matches(session: Session) -> None:
    need = needs.create_need(session=session, organization=org(session), data=need_data())
    needs.close_need(session=session, need=need)
    with pytest.raises(NeedClosed):
        needs.match_need(session=session, need=need, limit=5)


# Demand ----------------------------------------------------------------------------------------


def test_views_and_search_hits_are_counted_per_day(session: Session, set_today: Any) -> None:
    listing = listed(session, "battery cooling")
    assert listing.id is not None
    needs.record_views(session=session, listing_ids=[listing.id, listing.id])
    needs.record_views(session=session, listing_ids=[listing.id])
    needs.record_search_hits(session=session, listing_ids=[listing.id])
    set_today(factories.TODAY - timedelta(days=40))
    needs.record_views(session=session, listing_ids=[listing.id])
    set_today(factories.TODAY)
    rows = session.exec(select(ListingDemandDaily).order_by(ListingDemandDaily.day)).all()
    assert [(r.day, r.views, r.search_hits) for r in rows] == [
        (factories.TODAY - timedelta(days=40), 1, 0),
        (factories.TODAY, 2, 1),
    ]
    demand = needs.listing_demand(session=session, listing=listing)
    assert (demand.views_total, demand.views_last_30_days) == (3, 2)
    assert (demand.search_hits_total, demand.search_hits_last_30_days) == (1, 1)


def test_demand_lists_relevant_open_needs_and_prospects(session: Session) -> None:
    listing = listed(session, "锂电池 thermal management", ipc_codes=["H01M 10/0525"])
    assert listing.id is not None
    sme: Organization = org(session)
    by_words = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="thermal management", description="锂电池"),
    )
    by_ipc = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="zzqx", description="qqzx", ipc_codes=["H01M 10/44"]),
    )
    needs.create_need(
        session=session, organization=sme, data=need_data(title="gearbox", description="tractor")
    )
    closed = needs.create_need(
        session=session, organization=sme, data=need_data(title="thermal management")
    )
    needs.close_need(session=session, need=closed)
    demand = needs.listing_demand(session=session, listing=listing)
    assert {n.need_id for n in demand.matching_needs} == {by_words.id, by_ipc.id}
    assert demand.matching_needs[0].need_id == by_words.id
    [patent] = demand.patents
    assert patent.matching_needs == 2
    assert (patent.signal, patent.prospect) == (4.0, Prospect.medium)
    needs.record_views(session=session, listing_ids=[listing.id])
    for _ in range(39):
        needs.record_views(session=session, listing_ids=[listing.id])
    [patent] = needs.listing_demand(session=session, listing=listing).patents
    assert (patent.signal, patent.prospect) == (8.0, Prospect.high)
    assert needs.prospect_of(2.99) is Prospect.low


def test_matching_plans_each_statement_for_its_words(session: Session) -> None:
    listed(session, "battery cooling")
    need = needs.create_need(session=session, organization=org(session), data=need_data())
    needs.match_need(session=session, need=need, limit=5)
    if needs.search.dialect_name(session) == "postgresql":
        mode = session.execute(sa.text("SHOW plan_cache_mode")).scalar_one()
        assert mode == "force_custom_plan"
