"""Search rules, called without HTTP: words in both languages, ranking, the spelling fallback,
filters, facets, the candidate bound, and cursors under inserts."""

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace.accounts.models import OrganizationKind
from marketplace.config import get_settings
from marketplace.listings.models import Listing
from marketplace.matching import candidates, search_index, spelling
from marketplace.matching.models import SearchSort
from marketplace.matching.search import LS, SearchFilters, filter_conditions
from marketplace.pagination import InvalidCursor
from marketplace.patents.identifiers import PatentKind
from tests import factories
from tests.conftest import postgres_only
from tests.matching.helpers import found, listed, search


def test_a_two_character_chinese_word_finds_it_inside_a_compound(session: Session) -> None:
    battery = listed(session, "一种锂离子电池的制备方法")
    listed(session, "一种芯片封装结构")
    assert found(session, "电池") == [battery.id]
    assert found(session, "锂离子电池") == [battery.id]
    assert found(session, "封装") != [battery.id]


def test_english_words_match_by_stem(session: Session) -> None:
    battery = listed(session, "Battery pack with cooling plates")
    batteries = listed(session, "Batteries for drones")
    listed(session, "Wind turbine blade")
    assert set(found(session, "batteries")) == {battery.id, batteries.id}
    assert set(found(session, "battery")) == {battery.id, batteries.id}


def test_mixed_queries_match_both_languages(session: Session) -> None:
    both = listed(session, "无人机电池 Drone battery")
    chinese = listed(session, "一种电池")
    english = listed(session, "Drone frame")
    assert found(session, "电池 drone")[0] == both.id
    assert set(found(session, "电池 drone")) == {both.id, chinese.id, english.id}
    # No listing has every word: those with any of them, the best first.
    result = search(session, "电池 frame")
    assert result.matched == "any"
    assert {hit.listing_id for hit in result.hits} == {both.id, chinese.id, english.id}


def test_an_any_word_match_with_more_of_the_words_ranks_first(session: Session) -> None:
    # One word, repeated, against two different words of the query.
    repeated = listed(session, "电池 电池 电池 电池 组件")
    both = listed(session, "电池 无人机 组件")
    result = search(session, "电池 无人机 frame")
    assert result.matched == "any"
    assert [hit.listing_id for hit in result.hits] == [both.id, repeated.id]


def test_find_candidates_can_require_some_key_words_and_exclude_listings(
    session: Session,
) -> None:
    three = listed(session, "锂电池 散热 液冷 组件")
    two = listed(session, "锂电池 散热 组件")
    one = listed(session, "锂电池 组件")
    listed(session, "风机 叶片")
    words = ["锂电池", "散热", "液冷", "方案"]

    def ids(at_least: int, exclude: Sequence[int] = ()) -> set[int]:
        return {
            c.listing_id
            for c in candidates.find_candidates(
                session,
                terms=words,
                any_term=True,
                conditions=[],
                limit=10,
                at_least=words[:3],
                at_least_count=at_least,
                exclude=exclude,
            )
        }

    assert ids(3) == {three.id}
    assert ids(2) == {three.id, two.id}
    assert ids(1) == {three.id, two.id, one.id}
    assert ids(1, exclude=[three.id or 0, one.id or 0]) == {two.id}


def test_candidate_fetches_of_one_shape_each_find_their_own_listings(session: Session) -> None:
    """A fetch's statement is built once per shape and reused: the words, class, excluded ids
    and limit of each fetch are its own, never those of the fetch that built it."""
    batteries = [
        listed(session, "Battery cooling plate", ipc_codes=["H01M 10/613"]) for _ in range(3)
    ]
    network = listed(session, "Neural network accelerator", ipc_codes=["G06N 3/08"])
    chinese = listed(session, "一种锂电池散热结构", ipc_codes=["H01M 10/613"])

    def ids(**arguments: Any) -> set[int]:
        return {
            c.listing_id
            for c in candidates.find_candidates(
                session, any_term=True, conditions=[], **{"terms": [], "limit": 10, **arguments}
            )
        }

    every_battery = {b.id for b in batteries}
    assert ids(terms=["batteri"]) == every_battery
    assert ids(terms=["network"]) == {network.id}
    assert ids(terms=["batteri"], limit=2) < every_battery
    assert len(ids(terms=["batteri"], limit=2)) == 2
    assert ids(terms=["batteri"], exclude=[batteries[0].id]) == every_battery - {batteries[0].id}
    assert ids(terms=["batteri"], exclude=[batteries[1].id]) == every_battery - {batteries[1].id}
    assert ids(ipc="H01M") == every_battery | {chinese.id}
    assert ids(ipc="G06N") == {network.id}
    assert ids(ipc="H01M", title_in_chinese=True) == {chinese.id}
    assert ids(ipc="H01M", title_in_chinese=False) == every_battery
    assert ids(ipc="H01M", exclude=[chinese.id]) == every_battery


def test_a_title_match_outranks_an_abstract_match(session: Session) -> None:
    in_abstract = listed(session, "Control device", abstract="A solar powered controller")
    in_title = listed(session, "Solar inverter")
    listed(session, "Unrelated gearbox")
    result = search(session, "solar")
    assert [hit.listing_id for hit in result.hits] == [in_title.id, in_abstract.id]
    scores = [hit.score for hit in result.hits]
    assert scores[0] is not None
    assert scores[1] is not None
    assert scores[0] > scores[1] > 0


def test_a_listing_with_every_word_outranks_one_with_some(session: Session) -> None:
    partial = listed(session, "固态电池 electrolyte")
    full = listed(session, "固态电池 thermal management", abstract="thermal runaway")
    result = search(session, "固态电池 thermal")
    # Any word matches, and the listing with every word comes first.
    assert [hit.listing_id for hit in result.hits] == [full.id, partial.id]
    assert result.matched == "all"


def test_the_description_is_searched(session: Session) -> None:
    described = listed(session, "Device", description="用于储能系统的热管理")
    assert found(session, "热管理") == [described.id]


def test_a_query_of_only_function_words_finds_nothing(session: Session) -> None:
    listed(session, "一种电池的方法")
    result = search(session, "的")
    assert result.hits == []
    assert result.total == 0


@pytest.mark.parametrize(("batteries", "bakeries"), [(3, 1), (1, 3)])
def test_the_most_frequent_word_one_edit_away_is_the_correction(
    session: Session, batteries: int, bakeries: int
) -> None:
    for n in range(batteries):
        listed(session, f"Battery pack {n}")
    for n in range(bakeries):
        listed(session, f"Bakery oven {n}")
    expected = "battery" if batteries > bakeries else "bakery"
    assert search(session, "batery").corrected_query == expected


def test_batery_is_corrected_to_battery_not_to_a_more_frequent_stem(session: Session) -> None:
    # As in the demo: "matery" (one edit from "batery") has the stem of "materials", which more
    # listings have than "battery"; a slip rarely changes the first letter.
    battery = listed(session, "Battery pack with cooling plates")
    batteries = listed(session, "Solid-state batteries")
    for n in range(4):
        listed(session, f"Composite materials {n}")
    result = search(session, "batery")
    assert result.corrected_query == "battery"
    assert {hit.listing_id for hit in result.hits} == {battery.id, batteries.id}


def test_a_common_word_is_corrected_from_the_planner_statistics(session: Session) -> None:
    if search_index.dialect_name(session) != "postgresql":
        pytest.skip("PostgreSQL's statistics")
    for n in range(30):
        listed(session, f"Battery pack {n}")
    listed(session, "Bakery oven")
    session.execute(sa.text("ANALYZE listing_search"))
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    connection = session.connection()
    sa.event.listen(connection, "before_cursor_execute", record)
    try:
        assert spelling.corrected_term(session, "batery") == ("batteri", "battery")
    finally:
        sa.event.remove(connection, "before_cursor_execute", record)
    # One read of the statistics; the index is not probed.
    assert len(statements) == 1
    assert "pg_stats" in statements[0]


def test_one_misspelled_word_is_corrected(session: Session) -> None:
    battery = listed(session, "Battery pack")
    result = search(session, "batery")
    assert result.corrected_query == "battery"
    assert [hit.listing_id for hit in result.hits] == [battery.id]
    # A word that is found is never "corrected".
    assert search(session, "battery").corrected_query is None
    assert search(session, "zzzzqqq").corrected_query is None


def test_the_pages_after_a_corrected_first_page_go_on_with_the_correction(
    session: Session,
) -> None:
    batteries = [listed(session, f"Battery pack {n}") for n in range(5)]
    first = search(session, "batery", limit=2)
    assert first.corrected_query == "battery"
    assert first.next_cursor is not None
    seen = [hit.listing_id for hit in first.hits]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = search(session, "batery", limit=2, cursor=cursor)
        assert page.corrected_query == "battery"
        assert page.terms == first.terms
        seen += [hit.listing_id for hit in page.hits]
        cursor = page.next_cursor
    assert sorted(seen) == sorted(listing.id for listing in batteries if listing.id is not None)


def build_catalog(session: Session) -> dict[str, Listing]:
    zhejiang_university = factories.organization(
        session, kind=OrganizationKind.university, region="Zhejiang"
    )
    beijing_company = factories.organization(
        session, kind=OrganizationKind.enterprise, region="Beijing"
    )
    return {
        "invention_g06": listed(
            session,
            "电池 search index",
            owner=zhejiang_university,
            ipc_codes=["G06F 16/33"],
            offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("300000"))],
        ),
        "invention_h01": listed(
            session,
            "电池 cell",
            owner=zhejiang_university,
            ipc_codes=["H01M 10/0525", "G06N 3/08"],
            offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("5"))],
        ),
        "utility_h01": listed(
            session,
            "电池 holder",
            owner=beijing_company,
            type_digit=2,
            ipc_codes=["H01M 2/10"],
            filing_date=date(2018, 9, 1),
        ),
    }


def test_filters_are_exact(session: Session) -> None:
    catalog = build_catalog(session)
    ids = {name: listing.id for name, listing in catalog.items()}

    def names(**filters: object) -> set[str]:
        hits = found(session, "电池", filters=SearchFilters(**filters))  # type: ignore[arg-type]
        return {name for name, listing_id in ids.items() if listing_id in hits}

    assert names() == set(ids)
    assert names(ipc="G") == {"invention_g06", "invention_h01"}
    assert names(ipc="G06F") == {"invention_g06"}
    assert names(ipc="G06F 16/33") == {"invention_g06"}
    assert names(ipc="H01M 10") == {"invention_h01"}
    assert names(ipc="H01M 2") == {"utility_h01"}
    assert names(kind=PatentKind.utility_model) == {"utility_h01"}
    assert names(owner_kind=OrganizationKind.enterprise) == {"utility_h01"}
    assert names(region="Zhejiang") == {"invention_g06", "invention_h01"}
    assert names(owner_id=catalog["utility_h01"].owner_id) == {"utility_h01"}
    assert names(royalty_type="running") == {"invention_h01"}
    # The factory's hybrid offer: 50,000 upfront and 3.5 %.
    assert names(max_upfront_fee=Decimal("50000")) == {"invention_h01", "utility_h01"}
    assert names(max_upfront_fee=Decimal("49999.99")) == {"invention_h01"}
    assert names(max_royalty_rate=Decimal("3.5")) == {"invention_g06", "utility_h01"}
    assert names(max_royalty_rate=Decimal("3.4")) == {"invention_g06"}
    # Finer than the offers' scale: a limit just below an amount never admits it.
    assert names(max_upfront_fee=Decimal("49999.999")) == {"invention_h01"}
    assert names(max_royalty_rate=Decimal("3.49999")) == {"invention_g06"}
    # Utility model filed 2018-09-01: term ends 2028-08-31, two years after today (2026-06-15).
    assert names(min_remaining_years=2) == set(ids)
    assert names(min_remaining_years=3) == {"invention_g06", "invention_h01"}
    assert names(published_after=date(2026, 6, 15)) == set(ids)
    assert names(published_after=date(2026, 6, 16)) == set()
    # Filters apply without a query too.
    assert set(found(session, None, filters=SearchFilters(ipc="H"))) == {
        ids["invention_h01"],
        ids["utility_h01"],
    }


def test_facets_count_the_filtered_set(session: Session) -> None:
    build_catalog(session)
    result = search(session, "电池")
    facets = result.facets
    assert result.total == 3
    assert result.total_is_lower_bound is False
    assert facets.exact is True
    assert {f.value: f.count for f in facets.kind} == {"invention": 2, "utility_model": 1}
    assert {f.value: f.count for f in facets.royalty_type} == {
        "lump_sum": 1,
        "running": 1,
        "hybrid": 1,
    }
    assert {f.value: f.count for f in facets.owner_kind} == {"university": 2, "enterprise": 1}
    assert {f.value: f.count for f in facets.region} == {"Zhejiang": 2, "Beijing": 1}
    # A listing counts once per section, however many of its codes fall in it.
    assert {f.value: f.count for f in facets.ipc_section} == {"H": 2, "G": 2}
    assert facets.ipc_class == []
    narrowed = search(session, "电池", filters=SearchFilters(ipc="G")).facets
    assert {f.value: f.count for f in narrowed.ipc_class} == {"G06": 2}
    assert {f.value: f.count for f in narrowed.kind} == {"invention": 2}


def test_an_owner_without_a_region_is_not_a_region_facet(session: Session) -> None:
    listed(session, "电池 one", owner=factories.organization(session, region=None))
    listed(session, "电池 two", owner=factories.organization(session, region="Beijing"))
    facets = search(session, "电池").facets
    assert {f.value: f.count for f in facets.region} == {"Beijing": 1}


def test_totals_and_facets_beyond_the_candidate_bound_are_lower_bounds(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(12):
        listed(session, f"电池 variant {number}")
    monkeypatch.setenv("MARKETPLACE_SEARCH_CANDIDATE_LIMIT", "10")
    get_settings.cache_clear()
    try:
        result = search(session, "电池", limit=50)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.total == 10
    assert result.total_is_lower_bound is True
    assert result.facets.exact is False
    assert len(result.hits) == 10


CandidateBound = Callable[[int], None]


@pytest.fixture
def candidate_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[CandidateBound]:
    """Search with a small candidate bound."""

    def bound(limit: int) -> None:
        monkeypatch.setenv("MARKETPLACE_SEARCH_CANDIDATE_LIMIT", str(limit))
        get_settings.cache_clear()

    yield bound
    monkeypatch.undo()
    get_settings.cache_clear()


def test_title_matches_fill_the_candidate_bound_before_body_matches(
    session: Session, candidate_bound: CandidateBound
) -> None:
    body_only = [listed(session, f"Device {n}", abstract="a solar cell array") for n in range(12)]
    in_title = listed(session, "Solar inverter")
    candidate_bound(10)
    result = search(session, "solar")
    # More body matches than the bound, published first: the title match is still ranked first.
    assert result.hits[0].listing_id == in_title.id
    assert result.total == 10
    assert result.total_is_lower_bound is True
    assert {hit.listing_id for hit in result.hits[1:]} <= {listing.id for listing in body_only}


def test_the_title_tier_holds_for_every_word_and_for_any_word(
    session: Session, candidate_bound: CandidateBound
) -> None:
    for n in range(12):
        listed(session, f"Device {n}", abstract="solar inverter with a 电池 pack")
    both = listed(session, "Solar 电池", abstract="inverter")
    one = listed(session, "Gearbox", abstract="solar inverter")
    candidate_bound(10)
    # Every word: the listing with some of them in its title comes first.
    assert found(session, "solar 电池 inverter")[0] == both.id
    # No listing has every word: any word, still title matches first.
    result = search(session, "电池 gearbox")
    assert result.matched == "any"
    assert {hit.listing_id for hit in result.hits[:2]} == {one.id, both.id}


def test_below_the_bound_body_matches_follow_the_title_matches(session: Session) -> None:
    body = listed(session, "Device", abstract="solar panel")
    title = listed(session, "Solar panel")
    result = search(session, "solar")
    assert [hit.listing_id for hit in result.hits] == [title.id, body.id]
    assert result.total == 2
    assert result.total_is_lower_bound is False


def walk(session: Session, q: str | None, sort: SearchSort, insert: bool) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        result = search(session, q, sort=sort, limit=2, cursor=cursor)
        seen.extend(hit.listing_id for hit in result.hits)
        if insert:
            # Published between page fetches: never makes a page repeat or skip.
            listed(session, "电池 newcomer")
            insert = False
        if result.next_cursor is None:
            return seen
        cursor = result.next_cursor


@pytest.mark.parametrize("sort", list(SearchSort))
def test_cursor_pages_neither_repeat_nor_skip_while_listings_are_published(
    session: Session, sort: SearchSort
) -> None:
    existing = [listed(session, f"电池 model {n}", abstract="电池 " * (n % 3)).id for n in range(5)]
    seen = walk(session, "电池", sort, insert=True)
    assert len(seen) == len(set(seen))
    assert set(existing) <= set(seen)


def test_equal_scores_rank_the_newer_listing_first_across_pages(session: Session) -> None:
    # Two texts, each listed three times: two scores, three listings with each.
    titled = [listed(session, "电池 cooling plate").id or 0 for _ in range(3)]
    in_body = [listed(session, "Cooling plate", abstract="电池 pack").id or 0 for _ in range(3)]
    expected = [*sorted(titled, reverse=True), *sorted(in_body, reverse=True)]
    first = search(session, "电池", limit=4)
    assert [hit.listing_id for hit in first.hits] == expected[:4]
    assert first.next_cursor is not None
    rest = search(session, "电池", limit=4, cursor=first.next_cursor)
    assert [hit.listing_id for hit in rest.hits] == expected[4:]
    scores = [hit.score for hit in [*first.hits, *rest.hits]]
    assert len(set(scores)) == 2


def test_newest_and_price_orders(session: Session, set_today) -> None:  # type: ignore[no-untyped-def]
    cheap = listed(
        session,
        "电池 cheap",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
    )
    set_today(date(2026, 6, 20))
    dear = listed(
        session,
        "电池 dear",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("900000"))],
    )
    assert found(session, "电池", sort=SearchSort.newest) == [dear.id, cheap.id]
    assert found(session, "电池", sort=SearchSort.price) == [cheap.id, dear.id]
    assert found(session, None) == [dear.id, cheap.id]
    # Newest by default without a query, relevance with one.
    assert search(session, "电池").hits[0].score is not None


def test_a_cursor_of_another_sort_is_refused(session: Session) -> None:
    for n in range(3):
        listed(session, f"电池 {n}")
    cursor = search(session, "电池", sort=SearchSort.newest, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        search(session, "电池", sort=SearchSort.price, limit=1, cursor=cursor)


@postgres_only
def test_the_ipc_filter_is_an_index_lookup_on_postgresql(session: Session) -> None:
    listed(session, "电池", ipc_codes=["H01M 10/0525"])
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    conditions = filter_conditions(session, SearchFilters(ipc="h01m 10"), today=date(2026, 6, 15))
    statement = sa.select(col(LS.listing_id)).where(*conditions)
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(session.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
    assert "ix_listing_search_search_vector" in plan, plan


@postgres_only
def test_title_matches_come_first_whichever_index_finds_them(session: Session) -> None:
    for n in range(60):
        listed(session, f"Battery pack {n}", abstract="thermal design")
    in_body = listed(session, "Cooling plate", abstract="battery thermal")
    in_title = listed(session, "Thermal battery module")
    session.execute(sa.text("ANALYZE listing_search"))
    shares = candidates.common_word_shares(session, ["batteri", "thermal", "zzz"])
    assert shares["batteri"] > 0.9
    assert "zzz" not in shares
    # Common words: the title index finds the title matches; a rare word: the main index.
    assert candidates._common(session, ["batteri"], any_term=False)
    assert not candidates._common(session, ["cool", "plate"], any_term=False)
    assert [hit.listing_id for hit in search(session, "plate").hits] == [in_body.id]
    ranked = [hit.listing_id for hit in search(session, "thermal battery", limit=100).hits]
    assert ranked[0] == in_title.id
    assert ranked[-1] == in_body.id


@postgres_only
def test_searching_and_matching_plan_each_statement_for_its_words(session: Session) -> None:
    assert session.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "auto"
    search(session, "battery")
    assert session.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"


def test_common_word_shares_need_postgresql_statistics(session: Session) -> None:
    listed(session, "Battery pack")
    if search_index.dialect_name(session) == "sqlite":
        assert candidates.common_word_shares(session, ["batteri"]) == {}


@postgres_only
def test_word_statistics_are_read_once_per_session(session: Session) -> None:
    for n in range(10):
        listed(session, f"Battery pack {n}")
    session.execute(sa.text("ANALYZE listing_search"))
    first = candidates.common_word_shares(session, ["batteri", "zzz"])
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    connection = session.connection()
    sa.event.listen(connection, "before_cursor_execute", record)
    try:
        assert candidates.common_word_shares(session, ["zzz", "batteri"]) == first
    finally:
        sa.event.remove(connection, "before_cursor_execute", record)
    assert "batteri" in first
    assert statements == []
