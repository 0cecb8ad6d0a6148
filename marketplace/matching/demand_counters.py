"""Demand counters kept off the read path.

A view of a listing or its appearance on a search page is a read: it must not write, let alone
take a row lock, in the request's transaction (many readers of one popular listing would queue
on its counter row, and every GET would commit). So a request only adds to this process's tally
in memory; a flusher writes the tally in batches, one upsert per flush in a transaction of its
own, listings in id order (concurrent flushes from several processes cannot deadlock). Counts
for a listing deleted in the meantime are dropped.

What a process has counted but not yet flushed (at most ``demand_flush_seconds`` old) is added
to the figures that process shows, so its own views are never missing from what it answers; a
process killed before its flush loses them, as any best-effort counter may."""

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from marketplace import clock
from marketplace.listings.models import Listing
from marketplace.matching.models import ListingDemandDaily

logger = logging.getLogger(__name__)

DAILY = ListingDemandDaily.__table__  # type: ignore[attr-defined]
LISTINGS = Listing.__table__  # type: ignore[attr-defined]

# (listing id, day on the marketplace calendar) -> [views, search hits]
Counts = dict[tuple[int, date], list[int]]


@dataclass(frozen=True, slots=True)
class Unflushed:
    """What this process counted for one listing and has not written yet."""

    views: int = 0
    search_hits: int = 0
    views_since: int = 0
    search_hits_since: int = 0


class DemandTally:
    """This process's counts since the last flush; safe to use from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counts = {}

    def add(self, listing_ids: Iterable[int], *, views: int = 0, search_hits: int = 0) -> None:
        day = clock.today()
        with self._lock:
            for listing_id in set(listing_ids):
                slot = self._counts.setdefault((listing_id, day), [0, 0])
                slot[0] += views
                slot[1] += search_hits

    def unflushed(self, listing_id: int, since: date) -> Unflushed:
        with self._lock:
            mine = [(day, slot) for (lid, day), slot in self._counts.items() if lid == listing_id]
        return Unflushed(
            views=sum(slot[0] for _, slot in mine),
            search_hits=sum(slot[1] for _, slot in mine),
            views_since=sum(slot[0] for day, slot in mine if day >= since),
            search_hits_since=sum(slot[1] for day, slot in mine if day >= since),
        )

    def take(self) -> Counts:
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def put_back(self, counts: Mapping[tuple[int, date], list[int]]) -> None:
        with self._lock:
            for key, (views, hits) in counts.items():
                slot = self._counts.setdefault(key, [0, 0])
                slot[0] += views
                slot[1] += hits

    def clear(self) -> None:
        with self._lock:
            self._counts = {}

    def flush(self, connection: Connection) -> int:
        """Write the tally in ``connection``'s transaction; returns the rows written. On an
        error the counts are kept for the next flush."""
        taken = self.take()
        if not taken:
            return 0
        try:
            return write_counts(connection, taken)
        except Exception:
            self.put_back(taken)
            raise


def write_counts(connection: Connection, counts: Mapping[tuple[int, date], list[int]]) -> int:
    """Add ``counts`` to the daily rows in one upsert, listings in id order."""
    ids = sorted({listing_id for listing_id, _ in counts})
    existing_query = sa.select(LISTINGS.c.id).where(LISTINGS.c.id.in_(ids))
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        # Keeps each listing from being deleted until the upsert below has its row.
        existing_query = existing_query.with_for_update(key_share=True)
    existing = set(connection.execute(existing_query).scalars())
    rows = [
        {"listing_id": listing_id, "day": day, "views": views, "search_hits": hits}
        for (listing_id, day), (views, hits) in sorted(counts.items())
        if listing_id in existing and (views or hits)
    ]
    if not rows:
        return 0
    insert: Any = pg_insert(DAILY) if postgresql else sqlite_insert(DAILY)
    statement = insert.values(rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["listing_id", "day"],
            set_={
                "views": DAILY.c.views + statement.excluded.views,
                "search_hits": DAILY.c.search_hits + statement.excluded.search_hits,
            },
        )
    )
    return len(rows)


# The tally of this process.
tally = DemandTally()


class DemandFlusher:
    """Flushes ``tally`` every ``interval`` seconds on a thread of its own, and once more when
    stopped (the server's shutdown)."""

    def __init__(self, engine: Engine, interval: float, counts: DemandTally = tally) -> None:
        self._engine = engine
        self._interval = interval
        self._tally = counts
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demand-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=max(self._interval, 1.0) + 10)
        self.flush_once()

    def flush_once(self) -> int:
        try:
            with self._engine.begin() as connection:
                return self._tally.flush(connection)
        except Exception:
            # Kept in the tally and retried at the next flush (e.g. SQLite busy, a failover).
            logger.warning("demand counters not flushed; retrying later", exc_info=True)
            return 0

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.flush_once()
