"""What a fixed battery of searches and need rankings returns, printed in full: the ranked
listing ids with their scores, text scores, matched words and raising subclasses, the query
models, the pages and cursors, the facets and totals, and the need matches with their
factors. Run it on two versions of the code
against the same database and diff the outputs: a change meant to make ranking cheaper must
leave them identical.

    .venv/bin/python benchmarks/ranking_fingerprint.py sqlite:///path/to/bench.db > new.txt
"""

import argparse
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bench_throughput import SEARCH_WORDS  # the throughput benchmark's words (this directory)

# Each search: its words, its filters (``SearchFilters`` fields) and its sort (None: the
# default for words, relevance).
SEARCHES: list[tuple[str, dict[str, Any], str | None]] = [
    *((word, {}, None) for word in ("throughput", *SEARCH_WORDS)),
    ("battery thermal management", {}, None),
    ("neural network image segmentation", {}, None),
    ("solid-state battery electrolyte halogen doping", {}, None),
    ("graph neural network knowledge graphs federated learning", {}, None),
    ("method and device for control of a system", {}, None),
    ("baterry", {}, None),
    ("sensr", {}, None),
    ("锂离子电池", {}, None),
    ("神经网络 图像 分割", {}, None),
    ("电池 battery", {}, None),
    ("传感器", {}, None),
    ("battery", {"ipc": "H01M"}, None),
    ("network", {"ipc": "G06F 16"}, None),
    ("sensor", {"kind": "invention"}, None),
    ("catalyst", {"royalty_type": "running"}, None),
    ("neural", {"owner_kind": "university"}, None),
    ("system", {"max_upfront_fee": Decimal("50000")}, None),
    ("material", {"max_royalty_rate": Decimal("3.5")}, None),
    ("control", {"min_remaining_years": 8}, None),
    ("battery", {}, "newest"),
    ("network", {}, "price"),
    ("device", {"kind": "utility_model"}, "newest"),
]

# Need rankings (the need matching's relevance core): words and IPC hints.
NEEDS: list[tuple[str, list[str]]] = [
    ("battery pack liquid cooling thermal management", ["H01M 10/613"]),
    ("industrial defect detection with a lightweight neural network", ["G06N"]),
    ("sensor", []),
    ("锂离子电池 热管理", ["H01M"]),
    ("catalyst method", ["B01J", "G06F 16/33"]),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    args = parser.parse_args(argv)
    os.environ["MARKETPLACE_DATABASE_URL"] = args.database_url
    os.environ["MARKETPLACE_SEARCH_RESULTS_SECONDS"] = "0"  # every search ranks afresh
    import sqlalchemy as sa
    from sqlmodel import Session, col

    from marketplace import clock
    from marketplace.accounts.models import Organization, OrganizationKind
    from marketplace.config import get_match_settings, get_settings
    from marketplace.db import get_engine
    from marketplace.matching import relevance, tokenizer
    from marketplace.matching.candidates import plan_each_search
    from marketplace.matching.models import SearchSort, TechnologyNeed
    from marketplace.matching.need_matching import match_need
    from marketplace.matching.search import SearchFilters, filter_conditions, search_listings

    get_settings.cache_clear()
    get_engine.cache_clear()
    engine = get_engine()
    bound = get_settings().search_candidate_limit
    out = sys.stdout

    def show_ranking(ranking: relevance.Ranking) -> None:
        out.write(f"  complete {ranking.complete} model {ranking.model.encode()}\n")
        for r in ranking.ranked:
            out.write(
                f"  {r.candidate.listing_id} {r.score!r} {r.text!r} "
                f"{','.join(r.matched)} {r.subclass}\n"
            )

    for q, filter_values, sort_name in SEARCHES:
        filters = SearchFilters(**filter_values)
        sort = SearchSort(sort_name) if sort_name else None
        out.write(f"search {q!r} {filter_values} {sort_name}\n")
        with Session(engine) as session:
            cursor = None
            for page in range(2):
                result = search_listings(
                    session=session, q=q, filters=filters, sort=sort, limit=20, cursor=cursor
                )
                out.write(
                    f" page {page} total {result.total} lower {result.total_is_lower_bound} "
                    f"terms {result.terms} corrected {result.corrected_query} "
                    f"matched {result.matched}\n"
                    f"  hits {[(h.listing_id, h.score) for h in result.hits]}\n"
                    f"  next {result.next_cursor}\n"
                    f"  facets {result.facets.model_dump()}\n"
                )
                cursor = result.next_cursor
                if cursor is None:
                    break
            session.rollback()
            terms = tokenizer.query_terms(q)
            if terms:
                plan_each_search(session)
                conditions = filter_conditions(session, filters, today=clock.today())
                show_ranking(
                    relevance.rank(session, terms=terms, conditions=conditions, bound=bound)
                )
                model = relevance.feedback_model(session, terms, conditions=conditions, bound=bound)
                out.write(f"  feedback model {model.encode()}\n")
            session.rollback()

    match_settings = get_match_settings()
    for text, hints in NEEDS:
        out.write(f"need {text!r} {hints}\n")
        with Session(engine) as session:
            plan_each_search(session)
            show_ranking(
                relevance.rank(
                    session,
                    terms=tokenizer.query_terms(text),
                    conditions=[],
                    bound=match_settings.text_candidates,
                    hints=hints,
                    class_candidates=match_settings.ipc_candidates,
                )
            )
            # The whole need matching, for a need of the first enterprise (not saved).
            enterprise = session.scalars(
                sa.select(col(Organization.id))
                .where(col(Organization.kind) == OrganizationKind.enterprise)
                .order_by(col(Organization.id))
                .limit(1)
            ).one()
            need = TechnologyNeed(
                organization_id=enterprise, title=text, description=text, ipc_codes=hints
            )
            matches = match_need(session=session, need=need, limit=20)
            out.write(f" candidates {matches.candidates}\n")
            for item in matches.items:
                factors = {name: f.model_dump() for name, f in item.factors.items()}
                out.write(
                    f"  {item.listing.id} {item.score!r} {item.offer_id} "
                    f"{item.estimated_total_cost.model_dump()} {factors}\n"
                )
            session.rollback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
