"""The search index of published listings, kept in step with the listings in the same
transaction: each published listing's words (title part above body) and its filter and sort keys
in ``listing_search`` (and on SQLite the FTS5 table), absent for any other status.

The listings' words are segmented here (``tokenizer``), never by the database: PostgreSQL gets a
ready ``tsvector`` literal, SQLite the words joined by spaces."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from marketplace.listings.models import Listing, ListingStatus
from marketplace.matching import facet_cache, tokenizer
from marketplace.matching.models import ListingSearch, SearchVector, listing_search_fts
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind, ipc_levels

# PostgreSQL's limits on a tsvector: positions per lexeme, and the highest position.
_MAX_POSITIONS = 256
CATALOGUE_CHANGED_KEY = "catalogue_changed"
_MAX_POSITION = 16_383


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class Document:
    """A listing's words: the title part (listing and patent titles) ranks above the body
    (description and patent abstracts)."""

    title: list[str]
    body: list[str]


def document_of(
    *, title: str, description: str | None, patent_texts: Iterable[tuple[str, str | None]]
) -> Document:
    titles = list(dict.fromkeys([title, *(patent_title for patent_title, _ in patent_texts)]))
    bodies = [description, *(abstract for _, abstract in patent_texts)]
    return Document(
        title=[token for text in titles for token in tokenizer.index_tokens(text)],
        body=[token for text in bodies for token in tokenizer.index_tokens(text)],
    )


def listing_document(listing: Listing) -> Document:
    """The words of a listing and of the patents it covers."""
    return document_of(
        title=listing.title,
        description=listing.description,
        patent_texts=[(patent.title, patent.abstract) for patent in listing.patents],
    )


def ipc_lexeme(prefix: str) -> str:
    """The lexeme that marks a listing under a canonical IPC prefix (any level) in its vector:
    ``ipc:g06f16/33``. The colon keeps it apart from every word, which the tokenizer never
    gives one."""
    return "ipc:" + prefix.lower().replace(" ", "")


def title_script_lexeme(title_in_chinese: bool) -> str:
    """The lexeme that marks whether a listing's title part is written in Chinese
    (``script:zh``) or has no Chinese at all (``script:other``). The relevance model fetches a
    subclass's listings in the other language than the query's; as a row filter, that scanned
    every listing of the subclass at a million listings (seconds when none is in the other
    language), as one lexeme more in the same index lookup it reads only the rarer of the two."""
    return "script:zh" if title_in_chinese else "script:other"


def tsvector_literal(document: Document, ipc_codes: Iterable[str] = ()) -> str:
    """The document as PostgreSQL's tsvector input (``'word':1A,7A 'other':9C``): built here, so
    that PostgreSQL's own parser, which does not know Chinese, never sees the text. Every level
    of the listing's IPC codes goes in too, as a lexeme without positions (``ipc_lexeme``): the
    IPC filter is then an index lookup, and no rank counts it; and so does the script of its
    title part (``title_script_lexeme``)."""
    positions: dict[str, list[str]] = {}
    position = 0
    for weight, tokens in (("A", document.title), ("C", document.body)):
        for token in tokens:
            position = min(position + 1, _MAX_POSITION)
            found = positions.setdefault(token, [])
            if len(found) < _MAX_POSITIONS:
                found.append(f"{position}{weight}")
    words = [
        "'{}':{}".format(token.replace("\\", "\\\\").replace("'", "''"), ",".join(found))
        for token, found in positions.items()
    ]
    levels = dict.fromkeys(level for code in ipc_codes for level in ipc_levels(code))
    script = title_script_lexeme(tokenizer.is_cjk(" ".join(document.title)))
    return " ".join([*words, *(f"'{ipc_lexeme(level)}'" for level in levels), f"'{script}'"])


def _joined(values: Iterable[str]) -> str:
    return "|" + "|".join(dict.fromkeys(values)) + "|"


def split_joined(joined: str) -> list[str]:
    """The values of a ``"|a|b|"`` key (``kinds``, ``royalty_types``, ``ipc_codes``)."""
    return [value for value in joined.split("|") if value]


def search_row(listing: Listing, document: Document | None = None) -> dict[str, Any]:
    """The filter and sort keys of a published listing, and its words (when given)."""
    assert listing.id is not None
    assert listing.published_at is not None
    offers = listing.offers
    words = {}
    if document is not None:
        words = {"title_words": " ".join(document.title), "body_words": " ".join(document.body)}
    return words | {
        "listing_id": listing.id,
        "owner_id": listing.owner_id,
        "published_at": listing.published_at,
        "kinds": _joined(str(patent.kind) for patent in listing.patents),
        "royalty_types": _joined(str(offer.royalty_type) for offer in offers),
        "ipc_codes": _joined(code for patent in listing.patents for code in patent.ipc_codes),
        "min_upfront_fee": min(
            (offer.upfront_fee or Decimal(0) for offer in offers), default=Decimal(0)
        ),
        "min_royalty_rate": min(
            (offer.royalty_rate or Decimal(0) for offer in offers), default=Decimal(0)
        ),
        "term_end_date": min(
            patents.term_end_date(PatentKind(patent.kind), patent.filing_date)
            for patent in listing.patents
        ),
    }


def _catalogue_changed(session: Session) -> None:
    """Browse facets counted before this transaction's index change are stale once it ends
    (forgotten then, not now: a count taken meanwhile would still see the old catalogue). A
    savepoint's end is not the end: only the outermost transaction's."""
    session.info[CATALOGUE_CHANGED_KEY] = True
    if not sa.event.contains(OrmSession, "after_transaction_end", _forget_browse_facets):
        sa.event.listen(OrmSession, "after_transaction_end", _forget_browse_facets)


def _forget_browse_facets(session: OrmSession, transaction: SessionTransaction) -> None:
    # Also after a rollback: forgetting counts that were still right costs one recount.
    if transaction.parent is None and session.info.pop(CATALOGUE_CHANGED_KEY, None):
        facet_cache.browse_facets.forget()
        facet_cache.search_results.forget()


def index_listing(*, session: Session, listing: Listing) -> Document | None:
    """Bring the listing's index entry in step with it: present with its current words and keys
    while published, absent otherwise. To be called in the same transaction as every change of
    the listing's status, text or patents. Returns the words indexed (None when not
    published)."""
    assert listing.id is not None
    sqlite = dialect_name(session) == "sqlite"
    if not sqlite:
        # Two transactions re-indexing one listing (a patent edit racing a withdrawal) would both
        # find no entry and both insert it: the listing's row lock puts them one after the other.
        session.execute(
            sa.select(col(Listing.id)).where(col(Listing.id) == listing.id).with_for_update()
        )
    _catalogue_changed(session)
    session.execute(sa.delete(ListingSearch).where(col(ListingSearch.listing_id) == listing.id))
    if sqlite:
        session.execute(
            sa.delete(listing_search_fts).where(listing_search_fts.c.rowid == listing.id)
        )
    if listing.status != ListingStatus.published:
        return None
    document = listing_document(listing)
    insert_entries(session, [(search_row(listing, document), document)])
    return document


def insert_entries(session: Session, entries: Sequence[tuple[dict[str, Any], Document]]) -> None:
    """Insert index entries for listings that have none (bulk: the reindex command)."""
    if not entries:
        return
    _catalogue_changed(session)
    if dialect_name(session) == "sqlite":
        session.execute(sa.insert(ListingSearch), [row for row, _ in entries])
        session.execute(
            sa.insert(listing_search_fts),
            [
                {
                    "rowid": row["listing_id"],
                    "title": " ".join(document.title),
                    "body": " ".join(document.body),
                }
                for row, document in entries
            ],
        )
        return
    session.execute(
        sa.insert(ListingSearch).values(
            search_vector=sa.cast(sa.bindparam("vector_literal"), SearchVector())
        ),
        [
            {**row, "vector_literal": tsvector_literal(document, split_joined(row["ipc_codes"]))}
            for row, document in entries
        ],
    )


def reindex_all(*, session: Session, batch_size: int = 500) -> int:
    """Rebuild the whole index from the listings (after the migration, or to repair it)."""
    session.execute(sa.delete(ListingSearch))
    if dialect_name(session) == "sqlite":
        session.execute(sa.delete(listing_search_fts))
    ids = session.scalars(
        select(col(Listing.id))
        .where(Listing.status == ListingStatus.published)
        .order_by(col(Listing.id))
    ).all()
    for start in range(0, len(ids), batch_size):
        batch = session.scalars(
            select(Listing).where(col(Listing.id).in_(ids[start : start + batch_size]))
        )
        insert_entries(
            session,
            [
                (search_row(listing, document), document)
                for listing in batch
                for document in (listing_document(listing),)
            ],
        )
        session.flush()
        session.expunge_all()
    if dialect_name(session) == "postgresql":
        # The relevance model reads the most common words and the number of listings from the
        # planner's statistics: a rebuilt index has them at once, not when autovacuum (if it
        # runs at all) next analyzes the table. ANALYZE counts this transaction's own rows.
        session.execute(sa.text(f"ANALYZE {ListingSearch.__tablename__}"))
    return len(ids)
