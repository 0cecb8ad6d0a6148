"""The search index of published listings, and the shapes of a search's answer.

``listing_search`` holds one row per published listing: the filter and sort keys, denormalized
so that a search reads one table, and on PostgreSQL a ``tsvector`` of the segmented words (GIN
index). On SQLite the words live in the FTS5 table ``listing_search_fts`` (rowid = listing id),
created by the migration and kept out of the metadata, because FTS5 is not a table SQLAlchemy
can describe."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from marketplace.db import ScaledDecimal, UTCDateTime
from marketplace.listings.models import ListingPublic
from marketplace.pagination import Page

FTS_TABLE = "listing_search_fts"
# The FTS5 table as SQL sees it (rowid is the listing id); not part of the metadata.
listing_search_fts = sa.table(FTS_TABLE, sa.column("rowid"), sa.column("title"), sa.column("body"))


def outside_metadata(table_name: str | None) -> bool:
    """The FTS5 table and its shadow tables, which the migration manages by hand."""
    return table_name is not None and (
        table_name == FTS_TABLE or table_name.startswith(f"{FTS_TABLE}_")
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
        sa.Index("ix_listing_search_search_vector", "search_vector", postgresql_using="gin"),
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
        description="Matches, counted up to the candidate limit (2,000 by default); beyond it "
        '`total_is_lower_bound` is true and the total reads as "2,000+".',
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
