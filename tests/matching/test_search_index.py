"""The search index follows every listing change: publication, withdrawal, lapse, patent
edits; drafts stay out; the whole index can be rebuilt."""

import sqlalchemy as sa
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.matching import search_index
from marketplace.matching.search import SearchFilters
from marketplace.patents.models import LegalStatus, PatentUpdate
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.conftest import postgres_only
from tests.matching.helpers import found, listed


def test_withdrawn_and_lapsed_listings_leave_search_at_once(session: Session) -> None:
    withdrawn = listed(session, "电池 withdrawn")
    lapsed = listed(session, "电池 lapsed")
    kept = listed(session, "电池 kept")
    factories.withdraw(session, withdrawn)
    patent = lapsed.patents[0]
    patent_workflows.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.lapsed)
    )
    assert found(session, "电池") == [kept.id]


def test_editing_a_declared_patent_updates_the_index(session: Session) -> None:
    listing = listed(session, "Gearbox")
    patent = listing.patents[0]
    patent_workflows.update_patent(
        session=session,
        patent=patent,
        changes=PatentUpdate(abstract="一种储能变流器", ipc_codes=["H02J 3/32"]),
    )
    assert found(session, "储能") == [listing.id]
    assert found(session, None, filters=SearchFilters(ipc="H02J")) == [listing.id]


def test_drafts_are_not_searchable(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    draft = factories.draft_listing(session, owner, patent_list=[factories.patent(session, owner)])
    search_index.index_listing(session=session, listing=draft)
    assert found(session, "battery") == []


def test_reindex_all_rebuilds_the_index(session: Session) -> None:
    listing = listed(session, "一种芯片封装结构")
    withdrawn = listed(session, "芯片 withdrawn")
    factories.withdraw(session, withdrawn)
    assert search_index.reindex_all(session=session) == 1
    assert found(session, "芯片") == [listing.id]


def test_ipc_levels_are_lexemes_apart_from_every_word() -> None:
    document = search_index.Document(title=["ipc", "g06f"], body=[])
    literal = search_index.tsvector_literal(document, ["G06F 16/33", "G06F 17/30"])
    assert literal == (
        "'ipc':1A 'g06f':2A 'ipc:g' 'ipc:g06' 'ipc:g06f' 'ipc:g06f16' 'ipc:g06f16/33' "
        "'ipc:g06f17' 'ipc:g06f17/30' 'script:other'"
    )


def test_the_script_of_the_title_part_is_a_lexeme_of_its_own() -> None:
    """Chinese anywhere in the title part marks it Chinese; the body does not count."""
    chinese = search_index.Document(title=["电池", "pack"], body=[])
    english = search_index.Document(title=["battery"], body=["电池"])
    assert search_index.tsvector_literal(chinese).endswith(" 'script:zh'")
    assert search_index.tsvector_literal(english).endswith(" 'script:other'")
    assert "script" not in search_index.tsvector_literal(english).rsplit(" ", 1)[0]


@postgres_only
def test_the_search_indexes_keep_no_pending_list(session: Session) -> None:
    """Entries go into the GIN trees at once: a search after a bulk declaration reads no
    pending list (PostgreSQL's fastupdate is off on both indexes of listing_search)."""
    options = dict(
        session.execute(
            sa.text(
                "SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
                "WHERE relname IN ('ix_listing_search_search_vector', "
                "'ix_listing_search_title_vector')"
            )
        ).all()
    )
    assert options == {
        "ix_listing_search_search_vector": "fastupdate=off",
        "ix_listing_search_title_vector": "fastupdate=off",
    }


@postgres_only
def test_a_rebuilt_index_has_fresh_statistics(session: Session) -> None:
    """The relevance model takes the most common words from the planner's statistics: after
    a rebuild they describe the rebuilt index, whether or not autovacuum runs."""
    for n in range(3):
        listed(session, f"battery cell {n}")
    statistics = sa.text(
        "SELECT count(*) FROM pg_stats WHERE tablename = 'listing_search' "
        "AND attname = 'search_vector' AND schemaname = current_schema()"
    )
    assert session.execute(statistics).scalar_one() == 0
    search_index.reindex_all(session=session)
    assert session.execute(statistics).scalar_one() == 1


def test_a_class_fetch_finds_the_words_the_class_and_the_script_together(
    session: Session,
) -> None:
    """The relevance model's fetch of a subclass's listings, in the other language or with the
    words: on PostgreSQL the class and the script are lexemes of the words' own lookup (one
    index read, not a bitmap of the whole class ANDed with the words')."""
    from marketplace.matching.candidates import find_candidates
    from tests.statements import counting_statements

    english = listed(session, "battery cooling plate", ipc_codes=["H01M 10/613"])
    listed(session, "battery charger", ipc_codes=["H02J 7/00"])
    chinese = listed(session, "电池 battery 冷却板", ipc_codes=["H01M 10/613"])

    def fetched(terms: list[str], title_in_chinese: bool | None = None) -> list[int]:
        found = find_candidates(
            session,
            terms=terms,
            any_term=True,
            conditions=[],
            limit=10,
            ipc="H01M",
            title_in_chinese=title_in_chinese,
        )
        return sorted(candidate.listing_id for candidate in found)

    assert english.id is not None
    assert chinese.id is not None
    with counting_statements(session) as statements:
        assert fetched(["batteri"]) == sorted([english.id, chinese.id])
    assert fetched(["batteri"], title_in_chinese=False) == [english.id]
    assert fetched(["batteri"], title_in_chinese=True) == [chinese.id]
    assert fetched([], title_in_chinese=False) == [english.id]
    assert fetched([], title_in_chinese=True) == [chinese.id]
    if session.get_bind().dialect.name == "postgresql":
        fetches = [s for s in statements if "FROM listing_search" in s]
        assert fetches
        # The words with the class: one full-text condition per fetch, not one for each.
        assert all(s.count("listing_search.search_vector @@") == 1 for s in fetches)


def test_owner_filters_need_no_join_of_the_owners(session: Session) -> None:
    from marketplace.accounts.models import OrganizationKind as Kind

    university = factories.organization(session, kind=Kind.university)
    institute = factories.organization(session, kind=Kind.research_institute)
    by_university = listed(session, "电池 university", owner=university)
    listed(session, "电池 institute", owner=institute)
    assert found(session, "电池", filters=SearchFilters(owner_kind=Kind.university)) == [
        by_university.id
    ]
    assert found(session, None, filters=SearchFilters(owner_kind=Kind.university)) == [
        by_university.id
    ]


@postgres_only
def test_title_matches_of_words_alone_are_found_by_the_title_index(session: Session) -> None:
    """Whatever the words' frequency: the title index's entries for a word are never more than
    the main index's, and far fewer for a word that titles rarely have. The main index's
    condition is only checked on the rows found (``IS true``)."""
    from marketplace.matching.candidates import find_candidates
    from tests.statements import counting_statements

    in_title = listed(session, "thermal pad", abstract="a pad")
    in_body = listed(session, "散热垫", abstract="thermal pad for chips")
    with counting_statements(session) as statements:
        found = find_candidates(session, terms=["thermal"], any_term=True, conditions=[], limit=5)
    assert [c.listing_id for c in found] == [in_title.id, in_body.id]
    title_fetch = next(s for s in statements if "ts_filter(search_vector" in s)
    # The title part's condition leads (the index the planner takes); the main one is checked.
    assert "WHERE (ts_filter(search_vector, '{a}') @@" in title_fetch
    assert "AND (listing_search.search_vector @@" in title_fetch
    assert title_fetch.count("IS true") == 1
