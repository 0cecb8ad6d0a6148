from typing import Annotated

from fastapi import APIRouter, Query, status

from marketplace.accounts.deps import LicensesScope, ListingsScope
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.matching import demand, need_matching, needs
from marketplace.matching.models import (
    ListingDemand,
    NeedCreate,
    NeedMatches,
    NeedPage,
    NeedPublic,
    SmeProfilePublic,
    SmeProfileUpdate,
)
from marketplace.pagination import PageParamsDep
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["matching"])

# Enterprises (SMEs) and licensors all hold it; a rejected organization holds no scope at all.
MAX_MATCHES = 50


@router.get(
    "/profile",
    response_model=SmeProfilePublic,
    responses=problem_responses(401, 403, 404),
    summary="The caller's SME profile (404 until the first PUT)",
)
def get_profile(caller: LicensesScope, session: SessionDep) -> SmeProfilePublic:
    profile = needs.get_profile(session=session, organization=caller.organization)
    return needs.profile_public(profile)


@router.put(
    "/profile",
    response_model=SmeProfilePublic,
    responses=problem_responses(401, 403, 422),
    summary="Create or replace the caller's SME profile",
    description="Industry, IPC interests, region, budget and expected annual sales: the "
    "defaults of the enterprise's needs when they leave these out.",
    openapi_extra=response_example(200, "profile"),
)
def put_profile(
    body: SmeProfileUpdate, caller: LicensesScope, session: SessionDep
) -> SmeProfilePublic:
    profile = needs.put_profile(session=session, organization=caller.organization, data=body)
    return needs.profile_public(profile)


@router.post(
    "/needs",
    status_code=status.HTTP_201_CREATED,
    response_model=NeedPublic,
    responses=problem_responses(401, 403, 422),
    summary="Post a technology need (enterprises)",
    openapi_extra=response_example(201, "need"),
)
def create_need(body: NeedCreate, caller: LicensesScope, session: SessionDep) -> NeedPublic:
    need = needs.create_need(session=session, organization=caller.organization, data=body)
    return needs.need_public(need, reader_id=caller.organization_id)


@router.get(
    "/needs",
    response_model=NeedPage,
    responses=problem_responses(401, 403, 422),
    summary="An enterprise's own needs, or for verified licensors every open need (demand)",
    description="Newest first, cursor pages. Licensors do not see an SME's budget and sales "
    "figures (`budget_max`, `expected_annual_sales`, `expected_annual_units` are null).",
)
def list_needs(caller: LicensesScope, session: SessionDep, page: PageParamsDep) -> NeedPage:
    items, next_cursor = needs.list_needs(
        session=session, reader=caller.organization, limit=page.limit, cursor=page.cursor
    )
    return NeedPage(
        items=[needs.need_public(n, reader_id=caller.organization_id) for n in items],
        next_cursor=next_cursor,
        limit=page.limit,
    )


@router.get(
    "/needs/{need_id}",
    response_model=NeedPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="A technology need (its owner; verified licensors while it is open)",
)
def get_need(need_id: ObjectId, caller: LicensesScope, session: SessionDep) -> NeedPublic:
    need = needs.get_need(session=session, need_id=need_id, reader=caller.organization)
    return needs.need_public(need, reader_id=caller.organization_id)


@router.post(
    "/needs/{need_id}/close",
    response_model=NeedPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Close a need: it stops being shown as demand",
)
def close_need(need_id: ObjectId, caller: LicensesScope, session: SessionDep) -> NeedPublic:
    need = needs.get_own_need(session=session, need_id=need_id, owner=caller.organization)
    need = needs.close_need(session=session, need=need)
    return needs.need_public(need, reader_id=caller.organization_id)


MATCHES_DESCRIPTION = """Published listings ranked for the need by a blended score. Each factor
is a value in [0, 1] times a configurable weight (`MARKETPLACE_MATCH_WEIGHT_*`); `score` is the sum
of the contributions, and `factors` says why:

* `text`: the listing's relevance for the need's words (as the listing search ranks them, any
  word) and the IPC subclasses of the best text matches, relative to the best; the explanation
  names the words and the class;
* `ipc`: the closest pair of the need's IPC hints (and the profile's interests) and the listing's
  codes: same subgroup (or within a coarser hint) 1, main group 0.8, subclass 0.6, class 0.4,
  section 0.2;
* `budget`: the best offer's estimated cost over its term at the expected annual sales (upfront
  fee, plus each year the royalty or the minimum annual royalty when higher) against
  `budget_max`: 1 within it, `budget / cost` above;
* `region`: the licensor in the need's region 1, in the same country 0.5, else 0;
* `term`: years of patent term left, full marks at 10;
* `uptake`: active licenses `n / (n + 3)`.

Text and IPC say whether a listing is about what the SME needs; budget, region, term and uptake
say how good a deal it is, and count in proportion to the first: their `weight` is the configured
weight times the listing's topical relevance, `(text + ipc contributions) / (their weights)`. So
a cheap, nearby listing on another subject does not outrank a relevant one.

The best offer of each listing is its cheapest over the term (`offer_id`,
`estimated_total_cost`). Candidates are bounded: 500 text matches (the listings with the need's
rarest words first) plus 200 per IPC subclass of the best matches and of interest; so the
answer is one page: `limit` only, no cursor."""


@router.get(
    "/needs/{need_id}/matches",
    response_model=NeedMatches,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Listings ranked for the caller's need, with each factor's contribution",
    description=MATCHES_DESCRIPTION,
)
def need_matches(
    need_id: ObjectId,
    caller: LicensesScope,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES, description="How many.")] = 20,
) -> NeedMatches:
    need = needs.get_own_need(session=session, need_id=need_id, owner=caller.organization)
    return need_matching.match_need(session=session, need=need, limit=limit)


@router.get(
    "/listings/{listing_id}/demand",
    response_model=ListingDemand,
    responses=problem_responses(401, 403, 404, 422),
    summary="The demand a listing meets: matching needs, views, searches, prospects",
    description="For the listing's owner only (404 for anyone else). The needs listed are "
    "those the owner may read with `GET /needs/{id}`: every open need for a verified "
    "university or institute, an enterprise's own, none for an unverified organization. "
    "Views count visits by "
    "anyone but the owner; search hits count appearances on the first page of a `q` search. "
    "Each patent's industrialisation prospect (`low`, `medium`, `high`) comes from a signal: "
    "2 per open need relevant to the patent + views in 30 days / 10 + search hits in 30 days "
    "/ 50 + 3 per active license; high from 8, medium from 3.",
)
def listing_demand(
    listing_id: ObjectId, caller: ListingsScope, session: SessionDep
) -> ListingDemand:
    return demand.get_listing_demand(
        session=session, listing_id=listing_id, reader=caller.organization
    )
