"""Facet counts of a browse (filters, no words), remembered for a few seconds per process.

A browse page is a keyset query over the index: cheap at any catalogue size. Its facet counts
and total are not: they count up to ``search_candidate_limit`` listings of the filtered
catalogue. They change only when a declaration is published, withdrawn or lapses, so each
process keeps them per filter combination for ``browse_facets_seconds`` and forgets them all
when it publishes or ends a declaration itself (a change made by another process shows within
that delay).

The first page of a search with words (``search_results``) is kept the same way, for
``search_results_seconds``: the few words most people search for are then ranked once every few
seconds, not once per request. Only first pages: a cursor's page ranks afresh with the weights
its cursor carries. The uncached path is the one kept fast; this saves repeating it."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MAX_ENTRIES = 512


@dataclass(slots=True)
class _Entry:
    value: object
    expires: float
    generation: int


class FacetCache:
    """A small thread-safe map from a filter key to what was counted, with a time to live."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._generation = 0
        self._max_entries = max_entries

    def get_or_count(self, key: Hashable, ttl: float, count: Callable[[], T]) -> T:
        """The value remembered for ``key`` if younger than ``ttl`` seconds, else ``count()``
        (remembered when ``ttl`` > 0). Counting runs outside the lock."""
        if ttl <= 0:
            return count()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires > now and entry.generation == self._generation:
                self._entries.move_to_end(key)
                return entry.value  # type: ignore[return-value]
            generation = self._generation
        value = count()
        with self._lock:
            # Counted before a forget() that came meanwhile: not remembered.
            if generation == self._generation:
                self._entries[key] = _Entry(value, now + ttl, generation)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return value

    def forget(self) -> None:
        """The catalogue changed: count again next time."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


# The browse facets of this process.
browse_facets = FacetCache()
# The first pages of searches with words of this process.
search_results = FacetCache()
