"""Saved searches: an enterprise keeps a search and hears (``GET /api/v1/events``, webhooks)
when a listing that matches it is published."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status

from marketplace.accounts.deps import LicenseeScope
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.matching import pages, saved_searches, search
from marketplace.matching.models import (
    ListingSearchPage,
    SavedSearch,
    SavedSearchCreate,
    SavedSearchPublic,
    SavedSearchUpdate,
    SearchSort,
)
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["matching"])

# Saving searches is the prospective licensee's side: the scope only enterprises hold.


def _own_saved_search(
    saved_search_id: ObjectId, caller: LicenseeScope, session: SessionDep
) -> SavedSearch:
    return saved_searches.get_own_saved_search(
        session=session,
        saved_search_id=saved_search_id,
        organization_id=caller.organization_id,
    )


OwnSavedSearch = Annotated[SavedSearch, Depends(_own_saved_search)]


def _public(saved: SavedSearch) -> SavedSearchPublic:
    assert saved.id is not None
    return SavedSearchPublic(
        id=saved.id,
        name=saved.name,
        query=saved_searches.query_of(saved),
        terms=saved.terms,
        need_id=saved.need_id,
        required_terms=saved.required_terms,
        active=saved.active,
        created_by_id=saved.created_by_id,
        created_at=saved.created_at,
        last_alerted_at=saved.last_alerted_at,
    )


ALERTS = """When a listing is published whose title, description or patents contain every word
of `q` and that passes every filter, each organization with such saved searches gets one
`saved_search.matched` event (`GET /api/v1/events`, and webhooks) with the listing's id and
title and the saved searches matched (`saved_searches`: id, name, matched words; the first is
repeated at the top level). Unlike the interactive search there is no "any word" fallback and no
spelling correction. Your own listings never alert you; a listing published again after a
withdrawal alerts again. An organization keeps at most 50 saved searches (configurable).

To be alerted about listings for one of your open technology needs, save it: give `need_id`
instead of `q` (filters may be added). Its terms are the need's key words (its first six words,
title first) and a listing with two of them raises an alert (`required_terms`), since a need is a
description rather than a query. Closing the need pauses the saved search."""


@router.post(
    "/saved-searches",
    status_code=status.HTTP_201_CREATED,
    response_model=SavedSearchPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Save a search and be alerted when a matching listing is published (enterprises)",
    description="`q` and the filters are those of `GET /api/v1/listings`, validated the same "
    "way; give `q` or at least one filter. " + ALERTS,
    openapi_extra=response_example(201, "saved_search"),
)
def create_saved_search(
    body: Annotated[
        SavedSearchCreate,
        Body(
            openapi_examples={
                "words and filters": {
                    "value": {
                        "name": "Batteries in Zhejiang",
                        "q": "锂离子电池 thermal management",
                        "region": "Zhejiang",
                        "max_upfront_fee": "50000",
                    }
                },
                "filters only": {
                    "value": {"name": "Any H01M listing", "ipc": "H01M", "kind": "invention"}
                },
            }
        ),
    ],
    caller: LicenseeScope,
    session: SessionDep,
) -> SavedSearchPublic:
    saved = saved_searches.create_saved_search(
        session=session,
        organization=caller.organization,
        data=body,
        created_by_id=caller.user.id if caller.user is not None else None,
    )
    return _public(saved)


@router.get(
    "/saved-searches",
    response_model=Page[SavedSearchPublic],
    responses=problem_responses(401, 403, 422),
    summary="Your organization's saved searches, newest first",
)
def list_saved_searches(
    caller: LicenseeScope, session: SessionDep, page: PageParamsDep
) -> Page[SavedSearchPublic]:
    found = saved_searches.list_saved_searches(
        session=session, organization_id=caller.organization_id, params=page
    )
    return page_of(found, page, _public)


@router.get(
    "/saved-searches/{saved_search_id}",
    response_model=SavedSearchPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="One of your organization's saved searches",
)
def get_saved_search(saved: OwnSavedSearch) -> SavedSearchPublic:
    return _public(saved)


@router.patch(
    "/saved-searches/{saved_search_id}",
    response_model=SavedSearchPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Rename a saved search, or pause and resume its alerts",
    openapi_extra=response_example(200, "paused_saved_search"),
)
def update_saved_search(
    body: Annotated[
        SavedSearchUpdate,
        Body(openapi_examples={"pause": {"value": {"active": False}}}),
    ],
    saved: OwnSavedSearch,
    session: SessionDep,
) -> SavedSearchPublic:
    return _public(saved_searches.update_saved_search(session=session, saved=saved, changes=body))


@router.delete(
    "/saved-searches/{saved_search_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a saved search: no more alerts from it",
)
def delete_saved_search(saved: OwnSavedSearch, session: SessionDep) -> Response:
    saved_searches.delete_saved_search(session=session, saved=saved)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/saved-searches/{saved_search_id}/results",
    response_model=ListingSearchPage,
    responses=problem_responses(401, 403, 404, 422),
    summary="Run a saved search now",
    description="The published listings that `GET /api/v1/listings` finds for the saved `q` and "
    "filters, best first (newest first without `q`).",
)
def saved_search_results(
    saved: OwnSavedSearch, session: SessionDep, page: PageParamsDep
) -> ListingSearchPage:
    query = saved_searches.query_of(saved)
    result = search.search_listings(
        session=session,
        q=query.q,
        filters=saved_searches.filters_of(query),
        sort=SearchSort.relevance if query.q else SearchSort.newest,
        limit=page.limit,
        cursor=page.cursor,
    )
    return pages.search_page(session=session, result=result, limit=page.limit)
