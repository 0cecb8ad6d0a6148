"""The models and the migrations never drift, and the migrations run both ways."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime
from marketplace.matching import needs, saved_searches
from marketplace.matching.models import (
    NeedCreate,
    SavedSearch,
    SavedSearchClass,
    SavedSearchQuery,
    outside_metadata,
)
from marketplace.models import metadata
from tests import factories
from tests.conftest import postgres_only, reset_database, upgrade_database


def test_models_match_migrated_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                # The FTS5 search table and its shadow tables, and the title index: hand-made
                # DDL in the migrations.
                "include_name": lambda name, type_, _parents: (
                    not (type_ in ("table", "index") and outside_metadata(name))
                ),
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    from alembic import command

    from tests.conftest import alembic_config

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with engine.connect() as connection:
        remaining = [
            name for name in engine.dialect.get_table_names(connection) if name != "alembic_version"
        ]
    assert remaining == []
    reset_database(engine)
    upgrade_database(engine)


SAVED_QUERIES: list[dict[str, Any]] = [
    {"q": "电池"},
    {"q": "电池", "ipc": "H01M 10/0525", "region": "Beijing"},
    {"ipc": "H"},
    {"ipc": "H01"},
    {"ipc": "H01M"},
    {"ipc": "G06F 16"},
    {"kind": "utility_model", "royalty_type": "hybrid", "owner_kind": "university"},
    {"owner_id": 7, "min_remaining_years": 0},
    {"max_upfront_fee": "999.999", "max_royalty_rate": "2.99999"},
    {"max_upfront_fee": "1000", "max_royalty_rate": "3.5", "min_remaining_years": 30},
]


def _saved_searches_before(engine: Engine, revision: str, rows: list[dict[str, Any]]) -> int:
    """Migrate down to ``revision`` and insert saved searches as they were then (``query``,
    ``terms`` and ``term_count`` from each row) for a new organization, whose id is returned."""
    from alembic import command

    from tests.conftest import alembic_config

    # The organization is made through today's models, so before going down: the schema it
    # is written to (and the audit trail it is recorded in) is the current one.
    with Session(engine) as setup:
        organization_id = factories.organization(setup).id
        setup.commit()
    assert organization_id is not None
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    before = sa.table(
        "saved_search",
        sa.column("organization_id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("query", JSONType),
        sa.column("terms", JSONType),
        sa.column("term_count", sa.Integer()),
        # From the saved needs' revision on (7c3edbeba91b).
        sa.column("required_terms", sa.Integer()),
        sa.column("active", sa.Boolean()),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as connection:
        connection.execute(
            sa.insert(before),
            [
                {
                    "organization_id": organization_id,
                    "name": f"saved {number}",
                    "active": True,
                    "created_at": datetime(2026, 6, 1, tzinfo=UTC),
                    **row,
                }
                for number, row in enumerate(rows)
            ],
        )
    return organization_id


def test_the_filters_of_saved_searches_become_columns(engine: Engine) -> None:
    """The migration fills the filter columns of existing saved searches as saving one now does."""
    try:
        _saved_searches_before(
            engine,
            "c01f97af0ddd",
            [{"query": query, "terms": [], "term_count": 0} for query in SAVED_QUERIES],
        )
        upgrade_database(engine)
        with Session(engine) as check:
            migrated = check.scalars(select(SavedSearch).order_by(col(SavedSearch.id))).all()
            assert [saved.query for saved in migrated] == SAVED_QUERIES
            for saved in migrated:
                expected = saved_searches.filter_columns(
                    SavedSearchQuery.model_validate(saved.query)
                )
                assert {name: getattr(saved, name) for name in expected} == expected, saved.query
    finally:
        reset_database(engine)
        upgrade_database(engine)


def test_existing_saved_searches_keep_requiring_every_word(engine: Engine) -> None:
    """Saved searches made before saved needs existed require all their words after it."""
    try:
        organization_id = _saved_searches_before(
            engine,
            "14187c1a56a0",
            [
                {"query": {"q": " ".join(words)}, "terms": words, "term_count": len(words)}
                for words in ([], ["电池"], ["电池", "散热", "cool"])
            ],
        )
        upgrade_database(engine, "7c3edbeba91b")
        with Session(engine) as check:
            # The columns of that revision: today's model has those of later ones too.
            migrated = check.execute(
                select(
                    col(SavedSearch.term_count),
                    col(SavedSearch.required_terms),
                    col(SavedSearch.need_id),
                )
                .where(col(SavedSearch.organization_id) == organization_id)
                .order_by(col(SavedSearch.id))
            ).all()
            assert [tuple(row) for row in migrated] == [
                (0, 0, None),
                (1, 1, None),
                (3, 3, None),
            ]
    finally:
        reset_database(engine)
        upgrade_database(engine)


def test_saved_searches_take_any_word_as_a_candidate_and_back(engine: Engine) -> None:
    """Alerting by relevance: a saved search's candidates are the listings with any of its
    words (required_terms 1); a saved need keeps its two; going down restores every word."""
    from alembic import command

    from tests.conftest import alembic_config

    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "5c7e2a9d4f16")
        with Session(engine) as setup:
            org = factories.organization(setup)
            need = needs.create_need(
                session=setup,
                organization=org,
                data=NeedCreate(title="锂电池 散热 液冷板", description="电动车"),
            )
            assert org.id is not None
            rows = [
                SavedSearch(
                    organization_id=org.id,
                    name=f"saved {len(words)}",
                    query={"q": " ".join(words)} if words else {"ipc": "H01M"},
                    terms=words,
                    term_count=len(words),
                    required_terms=len(words),
                )
                for words in ([], ["电池"], ["电池", "散热", "cool"])
            ]
            rows.append(
                SavedSearch(
                    organization_id=org.id,
                    name="need",
                    query={"q": "锂电池 散热 液冷板"},
                    terms=["锂电池", "散热", "液冷板"],
                    term_count=3,
                    required_terms=2,
                    need_id=need.id,
                )
            )
            # Only the columns given: today's model has those of later revisions too.
            ids = [
                setup.execute(
                    sa.insert(SavedSearch)
                    .values(row.model_dump(exclude_unset=True))
                    .returning(col(SavedSearch.id))
                ).scalar_one()
                for row in rows
            ]
            setup.commit()

        def required() -> list[int | None]:
            with Session(engine) as check:
                return [
                    check.scalar(
                        select(col(SavedSearch.required_terms)).where(col(SavedSearch.id) == ident)
                    )
                    for ident in ids
                ]

        upgrade_database(engine)
        assert required() == [0, 1, 1, 2]
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "8e3a6f1c2d45")
        assert required() == [0, 1, 3, 2]
    finally:
        reset_database(engine)
        upgrade_database(engine)


@postgres_only
def test_the_ipc_lexemes_migration_fills_the_vectors_as_indexing_does(engine: Engine) -> None:
    from alembic import command

    from marketplace.matching.models import ListingSearch
    from tests.conftest import alembic_config
    from tests.matching.helpers import listed

    with Session(engine) as setup:
        listing = listed(setup, "电池", ipc_codes=["H01M 10/0525", "G06F 16/33"])
        setup.commit()
        listing_id = listing.id

    def vector() -> str:
        # The column alone: older revisions lack columns the model has now.
        with Session(engine) as check:
            return str(
                check.execute(
                    sa.select(col(ListingSearch.search_vector)).where(
                        col(ListingSearch.listing_id) == listing_id
                    )
                ).scalar_one()
            )

    indexed = vector()
    assert "'ipc:h01m10/0525'" in indexed
    assert "'ipc:g06f16'" in indexed
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "6c75ac7aed37")
        assert "ipc:" not in vector()
        upgrade_database(engine)
        assert vector() == indexed
    finally:
        reset_database(engine)
        upgrade_database(engine)


@postgres_only
def test_the_title_script_migration_marks_the_vectors_as_indexing_does(engine: Engine) -> None:
    from alembic import command

    from marketplace.matching.models import ListingSearch
    from tests.conftest import alembic_config
    from tests.matching.helpers import listed

    with Session(engine) as setup:
        ids = [listed(setup, title).id for title in ("一种电池", "battery pack", "电池 pack")]
        setup.commit()

    def vectors() -> list[str]:
        # The column alone: older revisions lack columns the model has now.
        with Session(engine) as check:
            return [
                str(vector)
                for vector in check.execute(
                    sa.select(col(ListingSearch.search_vector))
                    .where(col(ListingSearch.listing_id).in_(ids))
                    .order_by(col(ListingSearch.listing_id))
                ).scalars()
            ]

    indexed = vectors()
    assert ["'script:zh'" in v for v in indexed] == [True, False, True]
    assert ["'script:other'" in v for v in indexed] == [False, True, False]
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "7a3e91c5d2b8")
        assert not any("script:" in v for v in vectors())
        upgrade_database(engine)
        assert vectors() == indexed
    finally:
        reset_database(engine)
        upgrade_database(engine)


@postgres_only  # as above: SQLite cannot take the migrations down with listings in it
def test_the_words_migration_fills_the_words_as_indexing_does(engine: Engine) -> None:
    """The relevance model's words of listings indexed before it: the same words, as many
    times (PostgreSQL keeps no order within a part)."""
    from alembic import command

    from marketplace.matching.models import ListingSearch
    from tests.conftest import alembic_config
    from tests.matching.helpers import listed

    with Session(engine) as setup:
        listing = listed(setup, "锂离子电池 battery pack", abstract="电池 cooling cooling plates")
        setup.commit()
        listing_id = listing.id

    def words() -> tuple[list[str], list[str]]:
        with Session(engine) as check:
            title, body = check.execute(
                sa.select(col(ListingSearch.title_words), col(ListingSearch.body_words)).where(
                    col(ListingSearch.listing_id) == listing_id
                )
            ).one()
        return sorted(title.split()), sorted(body.split())

    indexed = words()
    assert "cool" in indexed[1]
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "5b8e2d4c7a19")
        upgrade_database(engine)
        assert words() == indexed
    finally:
        reset_database(engine)
        upgrade_database(engine)


def test_revision_files_sort_in_revision_order() -> None:
    """`ls migrations/versions` reads as the history: file names carry the date and time."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    root = Path(__file__).resolve().parent.parent
    script = ScriptDirectory.from_config(Config(str(root / "alembic.ini")))
    oldest_first = [Path(str(rev.path)).name for rev in reversed(list(script.walk_revisions()))]

    assert oldest_first == sorted(oldest_first)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d-\d{4}_[a-z0-9_]+\.py", name) for name in oldest_first)


def test_platform_numbers_are_kept_and_flagged_and_report_conclusions_are_legacy(
    engine: Engine,
) -> None:
    """Declarations published before office announcements keep their OL… numbers, flagged as
    the platform's; their evaluation reports get a visibly unknown conclusion, and they stay
    published with the open-license reduction recorded per patent."""
    from alembic import command

    from marketplace.listings.models import Listing
    from marketplace.patents.models import Patent
    from tests.conftest import alembic_config

    config = alembic_config()
    try:
        # Made through today's models, so before going down: the audit trail it is recorded
        # in is the current one.
        with Session(engine) as setup:
            owner_id = factories.organization(setup).id
            setup.commit()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "8a41c0d2e7b9")
        now = datetime(2026, 6, 1, tzinfo=UTC)
        patent = sa.table(
            "patent",
            *(sa.column(name) for name in ("owner_id", "application_number", "kind", "title")),
            *(sa.column(name) for name in ("legal_status", "publicly_funded")),
            sa.column("filing_date", sa.Date()),
            sa.column("grant_date", sa.Date()),
            sa.column("fee_paid_until", sa.Date()),
            sa.column("evaluation_report_ref"),
            sa.column("inventors", JSONType),
            sa.column("co_owners", JSONType),
            sa.column("created_at", UTCDateTime()),
            sa.column("updated_at", UTCDateTime()),
        )
        listing = sa.table(
            "listing",
            *(sa.column(name) for name in ("owner_id", "title", "status")),
            sa.column("announcement_number"),
            sa.column("announcement_date", sa.Date()),
            sa.column("annual_fee_reduction_percent", ScaledDecimal(5, 2)),
            sa.column("warnings", JSONType),
            sa.column("created_at", UTCDateTime()),
            sa.column("updated_at", UTCDateTime()),
        )
        numbers = [factories.application_number(2), factories.application_number(1)]
        with engine.begin() as connection:
            patent_ids: list[int] = [
                connection.execute(
                    sa.insert(patent).returning(sa.column("id")),
                    {
                        "owner_id": owner_id,
                        "application_number": number,
                        "kind": kind,
                        "title": f"Patent {number}",
                        "legal_status": "granted",
                        "publicly_funded": False,
                        "filing_date": date(2020, 3, 1),
                        "grant_date": date(2021, 3, 1),
                        "fee_paid_until": date(2027, 2, 28),
                        "evaluation_report_ref": report,
                        "inventors": [],
                        "co_owners": [],
                        "created_at": now,
                        "updated_at": now,
                    },
                ).scalar_one()
                for number, kind, report in zip(
                    numbers, ("utility_model", "invention"), ("PJ2020001", None), strict=True
                )
            ]
            listing_ids: list[int] = [
                connection.execute(
                    sa.insert(listing).returning(sa.column("id")),
                    {
                        "owner_id": owner_id,
                        "title": title,
                        "status": status,
                        "announcement_number": number,
                        "announcement_date": date(2026, 6, 1) if number else None,
                        "annual_fee_reduction_percent": Decimal("15") if number else None,
                        "warnings": [],
                        "created_at": now,
                        "updated_at": now,
                    },
                ).scalar_one()
                for title, status, number in (
                    ("Declared", "published", "OL202600000001"),
                    ("Drafted", "draft", None),
                )
            ]
            connection.execute(
                sa.text("INSERT INTO listing_patent (listing_id, patent_id) VALUES (:l, :p)"),
                [{"l": listing_ids[0], "p": patent_id} for patent_id in patent_ids],
            )
        upgrade_database(engine)
        with Session(engine) as check:
            declared, drafted = (check.get_one(Listing, i) for i in listing_ids)
            assert (declared.status, declared.announcement_number) == (
                "published",
                "OL202600000001",
            )
            assert declared.announcement_source == "platform_assigned"
            assert declared.annual_fee_reduction_percent == Decimal("15.00")
            assert [
                (r["patent_id"], r["percent"], r["basis"]) for r in declared.fee_reductions
            ] == [
                (patent_ids[0], "15.00", "open_license"),
                (patent_ids[1], "15.00", "open_license"),
            ]
            assert declared.withdrawal_consents == []
            assert (drafted.announcement_source, drafted.fee_reductions) == (None, [])
            utility, invention = (check.get_one(Patent, i) for i in patent_ids)
            assert utility.evaluation_report_conclusion == "legacy_unknown"
            assert invention.evaluation_report_conclusion is None
            assert utility.fee_reduction_percent is None
    finally:
        reset_database(engine)
        upgrade_database(engine)


def test_registration_numbers_recorded_before_the_office_numbers_are_flagged(
    engine: Engine,
) -> None:
    """Until pledges carried the office's registration, the platform minted the number of each
    registered pledge: kept, and flagged platform-assigned; applications have none to flag."""
    from alembic import command

    from marketplace.accounts.models import OrganizationKind
    from marketplace.pledges.models import Pledge, PledgeStatus
    from tests.conftest import alembic_config
    from tests.pledges.conftest import make_pledge

    try:
        with Session(engine) as setup:
            bank = factories.organization(setup, kind=OrganizationKind.bank)
            owner = factories.organization(setup, kind=OrganizationKind.enterprise)
            registered = make_pledge(setup, pledgee=bank, pledgor=owner)
            applied = make_pledge(setup, pledgee=bank, pledgor=owner, status=PledgeStatus.applied)
            setup.commit()
            numbers = {registered.id: registered.registration_number, applied.id: None}
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "b05107f91619")
        upgrade_database(engine)
        with Session(engine) as check:
            migrated = check.scalars(select(Pledge).order_by(col(Pledge.id))).all()
            assert {p.id: p.registration_number for p in migrated} == numbers
            assert {p.id: p.registration_number_platform_assigned for p in migrated} == {
                registered.id: True,
                applied.id: False,
            }
            assert {p.consents_to_open_licenses for p in migrated} == {False}
            assert {len(p.co_owner_consents) for p in migrated} == {0}
    finally:
        # Older migrations rebuild the patent table on SQLite on the way down: empty it first.
        with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
        reset_database(engine)
        upgrade_database(engine)


def test_saved_searches_are_weighed_for_classes_at_their_first_alert_and_back(
    engine: Engine,
) -> None:
    """Saved searches from before classes were kept are not weighed yet (their first alert
    weighs them); the way down drops the classes and keeps the saved searches."""
    from alembic import command

    from tests.conftest import alembic_config

    config = alembic_config()
    parent = "5b7d2e9c4a16"
    try:
        organization_id = _saved_searches_before(
            engine,
            parent,
            [{"query": {"q": "电池"}, "terms": ["电池"], "term_count": 1, "required_terms": 1}],
        )
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO saved_search_term (term, saved_search_id) "
                    "SELECT '电池', id FROM saved_search WHERE organization_id = :organization_id"
                ),
                {"organization_id": organization_id},
            )
        upgrade_database(engine)
        with Session(engine) as check:
            [saved] = check.scalars(
                select(SavedSearch).where(col(SavedSearch.organization_id) == organization_id)
            ).all()
            assert saved.classes_weighed_at is None
            owner = factories.organization(check, kind=OrganizationKind.university)
            listing = factories.published_listing(
                check,
                owner,
                patent_list=[factories.patent(check, owner, title="一种锂离子电池的制备方法")],
            )[0]
            assert listing.id is not None
            check.refresh(saved)
            assert saved.classes_weighed_at is not None
            assert (
                check.scalars(
                    select(SavedSearchClass.subclass).where(
                        col(SavedSearchClass.saved_search_id) == saved.id
                    )
                ).all()
                != []
            )
            # The listing is not kept: the migrations down to base would trip on its rows.
            check.rollback()
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO saved_search_class "
                    "(subclass, saved_search_id, share, listing_in_chinese) "
                    "SELECT 'H01M', id, 1.0, false FROM saved_search "
                    "WHERE organization_id = :organization_id"
                ),
                {"organization_id": organization_id},
            )
            config.attributes["connection"] = connection
            command.downgrade(config, parent)
        with engine.connect() as connection:
            names = engine.dialect.get_table_names(connection)
            columns = {c["name"] for c in sa.inspect(connection).get_columns("saved_search")}
            count = connection.scalar(sa.text("SELECT count(*) FROM saved_search"))
        assert "saved_search_class" not in names
        assert "classes_weighed_at" not in columns
        assert count == 1
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM saved_search_term"))
    finally:
        reset_database(engine)
        upgrade_database(engine)


@postgres_only
def test_going_down_from_the_sequencer_chains_what_is_pending(engine: Engine) -> None:
    """Before ``audit_pending`` goes, its entries join the chain; the chain verifies both ways."""
    from alembic import command

    from marketplace.audit import chain, recorder
    from marketplace.audit import service as audit
    from tests.conftest import alembic_config

    with Session(engine) as setup:
        factories.organization(setup)
        setup.commit()
    with Session(engine) as dead:
        organization_id = factories.organization(dead).id
        # Recorded, committed, never chained: a process that died right after its commit.
        chain.append(dead, recorder._merge(dead.info.pop(recorder.PENDING_KEY)))
        dead.connection().commit()
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "8e3a6f1c2d45")
        with engine.connect() as connection:
            assert "audit_pending" not in engine.dialect.get_table_names(connection)
            functions = set(
                connection.execute(
                    sa.text("SELECT proname FROM pg_proc WHERE proname LIKE 'audit_chain_%'")
                ).scalars()
            )
            assert functions == {"audit_chain_append"}
        with Session(engine) as reader:
            chained = reader.scalars(
                sa.text(
                    "SELECT object_id FROM audit_event WHERE object_type = 'organization' "
                    "ORDER BY id"
                )
            ).all()
            assert chained[-1] == organization_id
            assert audit.verify_chain(session=reader).ok
        upgrade_database(engine)
        with Session(engine) as writer:
            factories.organization(writer)
            writer.commit()
        with Session(engine) as reader:
            assert audit.pending_count(session=reader) == 0
            assert audit.verify_chain(session=reader).ok
    finally:
        reset_database(engine)
        upgrade_database(engine)
