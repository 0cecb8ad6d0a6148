"""The search index of published listings, and the shapes of a search's answer.

``listing_search`` holds one row per published listing: the filter and sort keys, denormalized
so that a search reads one table, and on PostgreSQL a ``tsvector`` of the segmented words (GIN
index). On SQLite the words live in the FTS5 table ``listing_search_fts`` (rowid = listing id),
created by the migration and kept out of the metadata, because FTS5 is not a table SQLAlchemy
can describe."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.accounts.models import OrganizationKind
from marketplace.codes import CurrencyCode
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime, enum_type
from marketplace.listings.models import ListingPublic, RoyaltyType
from marketplace.matching import tokenizer
from marketplace.pagination import Page
from marketplace.params import MAX_ID
from marketplace.patents.identifiers import PatentKind, normalize_ipc_prefix
from marketplace.patents.models import IpcPrefix

FTS_TABLE = "listing_search_fts"
# The FTS5 table as SQL sees it (rowid is the listing id); not part of the metadata.
listing_search_fts = sa.table(FTS_TABLE, sa.column("rowid"), sa.column("title"), sa.column("body"))


# PostgreSQL: a GIN index over the title part of the vector alone (weight A), so that the
# listings with a word in their title are found without reading every listing with it in its
# body; an expression index the migration creates by hand, outside the metadata.
TITLE_INDEX = "ix_listing_search_title_vector"
TITLE_VECTOR_SQL = "ts_filter(search_vector, '{a}')"


def outside_metadata(name: str | None) -> bool:
    """The FTS5 table and its shadow tables (SQLite), and the title index (PostgreSQL), which
    the migrations manage by hand."""
    return name is not None and (
        name in (FTS_TABLE, TITLE_INDEX) or name.startswith(f"{FTS_TABLE}_")
    )


class SearchVector(sa.types.TypeDecorator[str]):
    """``tsvector`` on PostgreSQL; unused (always NULL) text on SQLite, where FTS5 holds the
    words."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TSVECTOR())
        return dialect.type_descriptor(sa.Text())


class ListingSearch(SQLModel, table=True):
    __tablename__ = "listing_search"
    __table_args__ = (
        # No pending list (fastupdate = off, see the migration gin_without_pending_lists): an
        # entry goes into the index at once, so every search probes the tree alone.
        sa.Index(
            "ix_listing_search_search_vector",
            "search_vector",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
        sa.Index("ix_listing_search_published_at_listing_id", "published_at", "listing_id"),
        sa.Index("ix_listing_search_min_upfront_fee_listing_id", "min_upfront_fee", "listing_id"),
    )

    listing_id: int = Field(foreign_key="listing.id", primary_key=True, ondelete="CASCADE")
    owner_id: int = Field(foreign_key="organization.id", index=True)
    published_at: datetime = Field(sa_type=UTCDateTime)
    # Multi-valued keys as "|a|b|", so that one LIKE finds a value (or an IPC prefix) in them.
    kinds: str = Field(max_length=100)
    royalty_types: str = Field(max_length=100)
    ipc_codes: str = Field(sa_type=sa.Text)
    # The cheapest offer: upfront fee (0 when it has none) and royalty rate (0 when none).
    min_upfront_fee: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    min_royalty_rate: Decimal = Field(sa_type=ScaledDecimal(7, 4))
    # When the first covered patent's term ends.
    term_end_date: date
    search_vector: str | None = Field(default=None, sa_type=SearchVector)
    # The indexed words, space-separated, of the title part and of the body: what the relevance
    # model counts (term frequencies, lengths).
    title_words: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    body_words: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})


class SearchSort(StrEnum):
    relevance = "relevance"
    newest = "newest"
    price = "price"


class Highlight(BaseModel):
    field: str = PydanticField(
        description="`title`, `description`, `patent_title` or `patent_abstract`."
    )
    patent_id: int | None = None
    snippet: str = PydanticField(
        description="An excerpt, HTML-escaped, with the matched words in `<em>…</em>`."
    )


class FacetCount(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    kind: list[FacetCount] = []
    royalty_type: list[FacetCount] = []
    owner_kind: list[FacetCount] = []
    region: list[FacetCount] = []
    ipc_section: list[FacetCount] = []
    ipc_class: list[FacetCount] = PydanticField(
        default=[], description="Only when `ipc` narrows the search to a section or below."
    )
    exact: bool = PydanticField(
        description="False when the counts cover only the first candidates (see `total`)."
    )


class ListingHit(ListingPublic):
    score: float | None = PydanticField(
        default=None,
        description="Relevance to `q` (higher is better; comparable only within one search).",
    )
    highlights: list[Highlight] = PydanticField(default_factory=list)


class ListingSearchPage(Page[ListingHit]):
    facets: Facets | None = PydanticField(
        default=None, description="Counts over the candidate set (absent with `mine=true`)."
    )
    total: int | None = PydanticField(
        default=None,
        description="Matches, counted up to the candidate limit (600 by default); beyond it "
        '`total_is_lower_bound` is true and the total reads as "600+".',
    )
    total_is_lower_bound: bool = False
    corrected_query: str | None = PydanticField(
        default=None,
        description="Set when `q` (one word) matched nothing and this spelling was searched.",
    )
    matched: str = PydanticField(
        default="all",
        description="`all`: listings with every word of `q`; `any`: none had them all, so "
        "listings with any of them, best first.",
    )


# SME profiles, technology needs, demand counters -------------------------------------------

MAX_IPC_HINTS = 20


def _cents(value: Decimal) -> Decimal:
    # Fixed scale, so that an amount reads the same before and after it is stored.
    return value.quantize(Decimal("0.01"))


Amount = Annotated[
    Decimal, PydanticField(max_digits=16, decimal_places=2, ge=0), AfterValidator(_cents)
]
IpcHint = Annotated[str, StringConstraints(max_length=30), AfterValidator(normalize_ipc_prefix)]


class SmeProfile(SQLModel, table=True):
    """An enterprise's standing interests, the defaults of its needs (one per organization)."""

    __tablename__ = "sme_profile"

    organization_id: int = Field(foreign_key="organization.id", primary_key=True)
    industry: str | None = Field(default=None, max_length=200)
    ipc_interests: list[str] = Field(default_factory=list, sa_type=JSONType)
    region: str | None = Field(default=None, max_length=100)
    budget_max: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    expected_annual_sales: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    currency: str = Field(default="CNY", max_length=3)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class SmeProfileUpdate(BaseModel):
    """The whole profile (a PUT replaces it)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "industry": "electric vehicle batteries",
                    "ipc_interests": ["H01M 10", "B60L"],
                    "region": "Zhejiang",
                    "budget_max": "500000",
                    "expected_annual_sales": "2000000",
                    "currency": "CNY",
                }
            ]
        },
    }

    industry: str | None = PydanticField(default=None, max_length=200)
    ipc_interests: list[IpcHint] = PydanticField(
        default_factory=list, max_length=MAX_IPC_HINTS, description="IPC prefixes, any level."
    )
    region: str | None = PydanticField(default=None, max_length=100)
    budget_max: Amount | None = None
    expected_annual_sales: Amount | None = None
    currency: CurrencyCode = "CNY"


class SmeProfilePublic(BaseModel):
    organization_id: int
    industry: str | None
    ipc_interests: list[str]
    region: str | None
    budget_max: Decimal | None
    expected_annual_sales: Decimal | None
    currency: str
    updated_at: datetime


class NeedStatus(StrEnum):
    open = "open"
    closed = "closed"


class TechnologyNeed(SQLModel, table=True):
    __tablename__ = "technology_need"
    __table_args__ = (sa.Index("ix_technology_need_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    title: str = Field(max_length=300)
    description: str = Field(sa_type=sa.Text)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=JSONType)
    budget_max: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    currency: str = Field(default="CNY", max_length=3)
    region: str | None = Field(default=None, max_length=100)
    expected_annual_sales: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    expected_annual_units: int | None = None
    status: NeedStatus = Field(
        default=NeedStatus.open, sa_type=enum_type(NeedStatus, "need_status")
    )
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def search_terms(self) -> list[str]:
        """The need's words as the index spells them, title first (at most ``MAX_NEED_TERMS``)."""
        return tokenizer.query_terms(f"{self.title} {self.description}")[:MAX_NEED_TERMS]

    def key_terms(self) -> list[str]:
        """Its first ``KEY_TERMS`` words: what a listing must share some of to be a candidate
        (matching) or to raise an alert (a saved need)."""
        return self.search_terms()[:KEY_TERMS]


class NeedCreate(BaseModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "title": "锂电池热管理 battery thermal management",
                    "description": "E-bike packs: we need a cooling design to license.",
                    "ipc_codes": ["H01M 10/0525"],
                    "budget_max": "300000",
                    "region": "Zhejiang",
                    "expected_annual_sales": "2000000",
                }
            ]
        },
    }

    title: str = PydanticField(min_length=1, max_length=300)
    description: str = PydanticField(min_length=1, max_length=5_000)
    ipc_codes: list[IpcHint] = PydanticField(
        default_factory=list,
        max_length=MAX_IPC_HINTS,
        description="IPC hints at any level (`H01M`, `H01M 10/0525`).",
    )
    budget_max: Amount | None = PydanticField(
        default=None, description="Most the SME would pay over the license term."
    )
    currency: CurrencyCode = "CNY"
    region: str | None = PydanticField(default=None, max_length=100)
    expected_annual_sales: Amount | None = PydanticField(
        default=None, description="Net sales a year of the licensed product (default: profile)."
    )
    expected_annual_units: int | None = PydanticField(
        default=None, ge=0, le=10**12, description="Units a year, for per-unit royalties."
    )


class NeedPublic(BaseModel):
    id: int
    organization_id: int
    title: str
    description: str
    ipc_codes: list[str]
    budget_max: Decimal | None = PydanticField(
        description="Only the need's owner sees its budget and sales figures (null for others)."
    )
    currency: str
    region: str | None
    expected_annual_sales: Decimal | None
    expected_annual_units: int | None
    status: NeedStatus
    created_at: datetime
    closed_at: datetime | None


class NeedPage(Page[NeedPublic]):
    pass


class FactorPublic(BaseModel):
    value: float = PydanticField(description="In [0, 1].")
    weight: float
    contribution: float = PydanticField(description="`weight x value`; the score is their sum.")
    explanation: str


class CostBreakdown(BaseModel):
    upfront_fee: Decimal
    annual_royalty: Decimal = PydanticField(description="At the expected sales (and units).")
    minimum_annual: Decimal | None
    years: int
    total: Decimal


class EstimatedCost(BaseModel):
    amount: Decimal
    currency: str
    breakdown: CostBreakdown


class NeedMatch(BaseModel):
    listing: ListingPublic
    offer_id: int
    score: float
    factors: dict[str, FactorPublic]
    estimated_total_cost: EstimatedCost


class NeedMatches(BaseModel):
    items: list[NeedMatch]
    candidates: int = PydanticField(description="Listings scored (a bounded candidate set).")


class ListingDemandDaily(SQLModel, table=True):
    """How often SMEs looked at a listing, per day (``clock.today``; incremented by upsert)."""

    __tablename__ = "listing_demand_daily"

    listing_id: int = Field(foreign_key="listing.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    views: int = Field(default=0)
    search_hits: int = Field(default=0)


class Prospect(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class DemandNeed(BaseModel):
    need_id: int
    title: str
    region: str | None
    relevance: float = PydanticField(description="Text and IPC relevance to this listing, 0-1.")
    ipc_proximity: float
    matched_terms: list[str] = PydanticField(
        default_factory=list, description="The need's words that the listing has."
    )
    created_at: datetime


class PatentProspect(BaseModel):
    patent_id: int
    matching_needs: int
    signal: float
    prospect: Prospect


class ListingDemand(BaseModel):
    listing_id: int
    matching_needs: list[DemandNeed]
    views_total: int
    views_last_30_days: int
    search_hits_total: int
    search_hits_last_30_days: int
    active_licenses: int
    patents: list[PatentProspect]


# Saved searches -------------------------------------------------------------------------------

MAX_TERM_LENGTH = 200


# The words of a need that are searched (title first, then description), and its key words.
MAX_NEED_TERMS = 24
KEY_TERMS = 6
# A saved need alerts on a listing with this many of its key words (all, when it has fewer).
NEED_ALERT_TERMS = 2
# The longest remaining term a saved search may ask for (no patent term is longer).
MAX_REMAINING_YEARS = 30


class SavedSearchQuery(BaseModel):
    """What a saved search looks for: ``q`` and the filters of ``GET /api/v1/listings``, with
    the same validation. (A saved need: ``SavedSearchCreate.need_id`` instead of ``q``.)"""

    model_config = ConfigDict(extra="forbid")

    q: str | None = PydanticField(
        default=None,
        min_length=1,
        max_length=200,
        description="Words that must all appear in the listing, Chinese or English.",
        examples=["锂离子电池 thermal management"],
    )
    ipc: IpcPrefix | None = PydanticField(
        default=None,
        description="IPC prefix at any level: `G`, `G06F`, `G06F 16`, `G06F 16/33`.",
    )
    kind: PatentKind | None = None
    owner_id: int | None = PydanticField(default=None, ge=1, le=MAX_ID)
    owner_kind: OrganizationKind | None = None
    region: str | None = PydanticField(default=None, max_length=100)
    royalty_type: RoyaltyType | None = None
    max_upfront_fee: Decimal | None = PydanticField(
        default=None,
        ge=0,
        le=Decimal("1e15"),
        description="Some offer's upfront fee is at most this.",
    )
    max_royalty_rate: Decimal | None = PydanticField(
        default=None,
        ge=0,
        le=100,
        description="Some offer's royalty rate (percent) is at most this.",
    )
    min_remaining_years: int | None = PydanticField(
        default=None,
        ge=0,
        le=MAX_REMAINING_YEARS,
        description="Every covered patent stays in force this many years.",
    )


class SavedSearchCreate(SavedSearchQuery):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    need_id: int | None = PydanticField(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Save one of your open technology needs instead of `q`: alerts for listings "
        "with two of its key words (its first six words, title first), with any filters given.",
    )


class SavedSearchUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    active: bool | None = PydanticField(default=None, description="False pauses its alerts.")


class SavedSearch(SQLModel, table=True):
    """A search an organization keeps, and is alerted about when a listing that matches it is
    published. ``terms`` are the query's words as the index spells them, computed once here
    (and in ``saved_search_term``), so that matching a newly published listing needs no
    segmentation per saved search."""

    __tablename__ = "saved_search"
    __table_args__ = (
        sa.Index("ix_saved_search_organization_id_id", "organization_id", "id"),
        # The saved searches without words: candidates for every published listing.
        sa.Index("ix_saved_search_term_count", "term_count"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id")
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    name: str = Field(max_length=100)
    # SavedSearchQuery as JSON, without the parameters left out.
    query: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    terms: list[str] = Field(default_factory=list, sa_type=JSONType)
    term_count: int = 0
    # How many of ``terms`` a listing must contain: all of them, or for a saved need two.
    required_terms: int = 0
    need_id: int | None = Field(
        default=None, foreign_key="technology_need.id", index=True, ondelete="CASCADE"
    )
    active: bool = True
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    last_alerted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The filters of ``query`` as columns (NULL: not filtered on), written once when saved, so
    # that the database picks the saved searches a published listing satisfies.
    # A LIKE pattern for the index's "|code|code|" string, as the search's own IPC condition.
    filter_ipc_pattern: str | None = Field(default=None, max_length=40)
    filter_kind: PatentKind | None = Field(
        default=None, sa_type=enum_type(PatentKind, "saved_search_kind")
    )
    filter_owner_id: int | None = None
    filter_owner_kind: OrganizationKind | None = Field(
        default=None, sa_type=enum_type(OrganizationKind, "saved_search_owner_kind")
    )
    filter_region: str | None = Field(default=None, max_length=100)
    filter_royalty_type: RoyaltyType | None = Field(
        default=None, sa_type=enum_type(RoyaltyType, "saved_search_royalty_type")
    )
    # Rounded down to the scale of offers' amounts: against those, "at most" means the same.
    filter_max_upfront_fee: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    filter_max_royalty_rate: Decimal | None = Field(default=None, sa_type=ScaledDecimal(7, 4))
    filter_min_remaining_years: int | None = None
    # When the IPC subclasses the search's best matches for its words share were weighed
    # (``saved_search_class``: by them a listing in the other language alerts). NULL while no
    # listing had its words yet: weighed at its first alert.
    classes_weighed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SavedSearchClass(SQLModel, table=True):
    """The inverted index of saved searches by IPC subclass: which saved searches a listing of
    that subclass, written in the other language than their words, may alert by its class."""

    __tablename__ = "saved_search_class"
    __table_args__ = (sa.Index("ix_saved_search_class_saved_search_id", "saved_search_id"),)

    subclass: str = Field(max_length=4, primary_key=True)
    saved_search_id: int = Field(
        foreign_key="saved_search.id", primary_key=True, ondelete="CASCADE"
    )
    share: float
    # The language of the listings it bridges to: Chinese for an English query, and the reverse.
    listing_in_chinese: bool


class SavedSearchTerm(SQLModel, table=True):
    """The inverted index of saved searches: which saved searches contain a word."""

    __tablename__ = "saved_search_term"
    __table_args__ = (sa.Index("ix_saved_search_term_saved_search_id", "saved_search_id"),)

    term: str = Field(max_length=MAX_TERM_LENGTH, primary_key=True)
    saved_search_id: int = Field(
        foreign_key="saved_search.id", primary_key=True, ondelete="CASCADE"
    )


class SavedSearchPublic(BaseModel):
    id: int
    name: str
    query: SavedSearchQuery
    terms: list[str] = PydanticField(
        description="The words of `q` as the index spells them (segmented, stemmed)."
    )
    need_id: int | None = PydanticField(
        default=None, description="The technology need saved (its key words are the terms)."
    )
    required_terms: int = PydanticField(
        description="How many of the terms a listing must contain to raise an alert."
    )
    active: bool
    created_by_id: int | None
    created_at: datetime
    last_alerted_at: datetime | None
