"""The listings ranked for a need: pricing as few candidates as possible, the factors' weights,
and the ranking over real listings."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.config import MatchSettings, get_match_settings
from marketplace.listings.models import RoyaltyType
from marketplace.matching import need_matching, needs, relevance, search_index
from marketplace.matching.errors import NeedClosed
from marketplace.matching.factors import PricedOffer
from marketplace.matching.models import NeedMatches, SmeProfileUpdate, TechnologyNeed
from marketplace.workflows import acceptance
from tests import factories
from tests.matching.helpers import listed, need_data, offer, org


@st.composite
def candidates(draw: st.DrawFn) -> list[need_matching.Candidate]:
    """Candidates whose non-budget contributions often tie, with one to three offers each, in
    two currencies and every royalty type."""
    found = []
    for listing_id in draw(st.lists(st.integers(1, 500), min_size=1, max_size=40, unique=True)):
        offers: list[PricedOffer] = []
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
            need_matching.Candidate(
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


def _wants(budget: str | None) -> need_matching.Wants:
    return need_matching.Wants(
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
    listing_id: int, text: float, upfront_fee: int, match_settings: MatchSettings
) -> need_matching.Candidate:
    made = offer(RoyaltyType.lump_sum, 5, upfront_fee=upfront_fee)
    made.id = listing_id
    candidate = need_matching.Candidate(
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
    need_matching.weigh(candidate, match_settings)
    return candidate


def test_a_cheaper_listing_behind_on_the_other_factors_can_still_top_the_page() -> None:
    match_settings = MatchSettings()
    pricey = _candidate(1, 1.0, 400_000, match_settings)
    cheap = _candidate(2, 0.9, 50_000, match_settings)
    assert pricey.partial > cheap.partial
    offers = {c.listing_id: c.offers for c in (pricey, cheap)}
    page = need_matching.top_matches(
        [pricey, cheap], _wants("100000"), 1, lambda ids: {i: offers[i] for i in ids}
    )
    assert [c.listing_id for c in page] == [2]
    assert page[0].score > pricey.partial


def test_practical_factors_count_in_proportion_to_topical_relevance() -> None:
    match_settings = MatchSettings()
    on_topic = _candidate(1, 1.0, 0, match_settings)
    off_topic = _candidate(2, 0.1, 0, match_settings)
    assert on_topic.weights["budget"] == pytest.approx(0.15 * 0.35 / 0.6, abs=1e-4)
    assert off_topic.weights["budget"] == pytest.approx(0.15 * 0.035 / 0.6, abs=1e-4)
    for candidate in (on_topic, off_topic):
        need_matching.price(candidate, _wants(None))
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
    found: list[need_matching.Candidate], budget: str | None, weight_budget: float, limit: int
) -> None:
    match_settings = MatchSettings(weight_budget=weight_budget)
    wants = _wants(budget)
    for candidate in found:
        need_matching.weigh(candidate, match_settings)
    offers = {candidate.listing_id: candidate.offers for candidate in found}
    read: list[int] = []

    def offers_of(ids: Sequence[int]) -> dict[int, list[PricedOffer]]:
        read.extend(ids)
        return {i: list(offers[i]) for i in ids if offers[i]}

    page = need_matching.top_matches(found, wants, limit, offers_of)
    assert len(read) == len(set(read))
    priced = [c for c in found if offers[c.listing_id]]
    for candidate in priced:  # the reference: price every candidate, sort them all
        candidate.offers = offers[candidate.listing_id]
        need_matching.price(candidate, wants)
    expected = sorted(priced, key=lambda c: (-c.score, -c.listing_id))[:limit]
    assert [(c.listing_id, c.score) for c in page] == [(c.listing_id, c.score) for c in expected]
    assert all(c.offer is not None for c in page)


# Ranking ---------------------------------------------------------------------------------------


def match_ids(session: Session, need: TechnologyNeed) -> list[int]:
    return [
        m.listing.id for m in need_matching.match_need(session=session, need=need, limit=50).items
    ]


def test_relevant_listing_outranks_irrelevant_and_factors_sum_to_score(session: Session) -> None:
    relevant = listed(session, "锂电池 热管理 thermal management system", ipc_codes=["A01B 1/00"])
    other = listed(session, "Gearbox for tractors", ipc_codes=["A01B 1/00"])
    sme = org(session)
    need = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="thermal management", description="锂电池", ipc_codes=["A01B"]),
    )
    result = need_matching.match_need(session=session, need=need, limit=10)
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
    # No word of the need, but in the class of its best text match: class evidence alone.
    share = relevance.CLASS_WEIGHT / (1 + relevance.CLASS_WEIGHT)
    assert bottom.factors["text"].value == pytest.approx(share, abs=1e-3)
    assert "A01B" in bottom.factors["text"].explanation
    assert "words" in top.factors["text"].explanation
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
    result = need_matching.match_need(session=session, need=budgeted, limit=10)
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
        # Licenses in force on notice: they count as uptake at once.
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("2"))],
    )
    sme = org(session, region="Zhejiang")
    need = needs.create_need(
        session=session, organization=sme, data=need_data(title="battery cooling")
    )
    assert near.id is not None
    assert far.id is not None
    items = {
        m.listing.id: m for m in need_matching.match_need(session=session, need=need, limit=5).items
    }
    assert items[near.id].factors["region"].value == 1.0
    assert items[far.id].factors["region"].value == 0.5
    assert items[near.id].factors["term"].value > items[far.id].factors["term"].value
    assert list(items) == [near.id, far.id]
    assert items[far.id].factors["uptake"].value == 0.0
    for number in range(3):
        acceptance.accept_offer(
            session=session,
            offer_id=far.offers[0].id or 0,
            licensee=org(session),
            user=None,
            idempotency_key=f"uptake-{number}",
        )
    items = {
        m.listing.id: m for m in need_matching.match_need(session=session, need=need, limit=5).items
    }
    uptake = items[far.id].factors["uptake"]
    assert uptake.value == 0.5
    # No IPC hints: the text factor alone (0.35 of 0.6) makes the topical relevance.
    assert uptake.weight == pytest.approx(0.1 * 0.35 / 0.6, abs=1e-4)
    assert uptake.contribution == pytest.approx(uptake.value * uptake.weight, abs=1e-4)
    assert uptake.explanation == "3 active licenses; counts x0.58, the listing's topical relevance"


def match_with_candidates(
    session: Session,
    need: TechnologyNeed,
    monkeypatch: pytest.MonkeyPatch,
    *,
    candidates: int,
    limit: int,
) -> NeedMatches:
    """The need's matches with the text candidates bounded at ``candidates``."""
    monkeypatch.setenv("MARKETPLACE_MATCH_TEXT_CANDIDATES", str(candidates))
    get_match_settings.cache_clear()
    try:
        return need_matching.match_need(session=session, need=need, limit=limit)
    finally:
        monkeypatch.undo()
        get_match_settings.cache_clear()


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
    result = match_with_candidates(session, need, monkeypatch, candidates=10, limit=3)
    assert result.candidates == 10
    assert [m.listing.id for m in result.items][:2] == [best.id, second.id]


def test_closed_need_has_no_matches(session: Session) -> None:
    need = needs.create_need(session=session, organization=org(session), data=need_data())
    needs.close_need(session=session, need=need)
    with pytest.raises(NeedClosed):
        need_matching.match_need(session=session, need=need, limit=5)


def test_matching_plans_each_statement_for_its_words(session: Session) -> None:
    listed(session, "battery cooling")
    need = needs.create_need(session=session, organization=org(session), data=need_data())
    need_matching.match_need(session=session, need=need, limit=5)
    if search_index.dialect_name(session) == "postgresql":
        mode = session.execute(sa.text("SHOW plan_cache_mode")).scalar_one()
        assert mode == "force_custom_plan"


def test_class_evidence_brings_listings_in_the_other_language_before_filling_the_room(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The need is in Chinese; its best text matches are in H01M. Listings of H01M in Chinese
    # without its words cannot come in by their class alone, so however many there are (and
    # however early they were listed), the room goes to the English listings of the class.
    for number in range(6):
        listed(session, f"电解液 配方 {number}", ipc_codes=["H01M 10/0525"])
    for title in ("锂电池 散热 结构", "锂电池 散热 模组", "锂电池 散热 系统"):
        listed(session, title, ipc_codes=["H01M 10/613"])
    english = [
        listed(session, title, abstract="cell pack", ipc_codes=["H01M 10/60"])
        for title in ("Cooling plate for battery packs", "Thermal runaway barrier")
    ]
    need = needs.create_need(
        session=session,
        organization=org(session),
        data=need_data(title="锂电池 散热", description="需要 方案"),
    )
    result = match_with_candidates(session, need, monkeypatch, candidates=10, limit=10)
    found = {m.listing.id for m in result.items}
    assert {listing.id for listing in english} <= found
    explained = {m.listing.id: m.factors["text"].explanation for m in result.items}
    assert all("H01M" in explained[listing.id or 0] for listing in english)
