from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from marketplace.accounts.deps import (
    CurrentCaller,
    ListingsScope,
    OptionalCaller,
    VerifiedListingsScope,
)
from marketplace.accounts.errors import OrganizationNotVerified
from marketplace.accounts.models import OrganizationKind
from marketplace.api import lawful_sequence
from marketplace.api.examples import response_example
from marketplace.errors import Unauthorized, Unprocessable, problem_responses
from marketplace.listings import publication
from marketplace.listings import service as listings
from marketplace.listings.bulk_models import (
    MAX_BULK_DECLARATIONS,
    BulkDeclarationCreate,
    BulkDeclarationOutcome,
    BulkPublicationCreate,
    BulkPublicationOutcome,
)
from marketplace.listings.declaration import Declaration
from marketplace.listings.deps import OwnListing, OwnOffer
from marketplace.listings.models import (
    DeclarationAnnouncement,
    ListingCreate,
    ListingPublic,
    ListingStatus,
    ListingUpdate,
    OfferCreate,
    OfferPublic,
    OfferUpdate,
    Precheck,
    RoyaltyType,
    WithdrawalAnnouncement,
    WithdrawalRequest,
)
from marketplace.matching import demand, pages, search
from marketplace.matching.models import ListingHit, ListingSearchPage, SearchSort
from marketplace.pagination import PageParamsDep
from marketplace.params import MAX_ID, ObjectId
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import IpcPrefix
from marketplace.sessions import SessionDep, end_read
from marketplace.workflows import declarations
from marketplace.workflows import listings as listing_workflows

router = APIRouter(prefix="/api/v1", tags=["listings"])


@router.post(
    "/listings",
    status_code=status.HTTP_201_CREATED,
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Draft an open-license listing for one patent or a bundle",
    openapi_extra=response_example(201, "listing", "A draft declaration"),
)
def create_listing(
    body: ListingCreate, caller: ListingsScope, session: SessionDep
) -> ListingPublic:
    listing = listings.create_listing(session=session, owner=caller.organization, data=body)
    return listing_workflows.public_listing(session, listing)


SEARCH_DESCRIPTION = """Published listings, for anyone.

`q` is matched word by word in titles, descriptions and the patents' titles and abstracts:
Chinese is segmented into words (电池 finds 一种锂离子电池的制备方法), English is stemmed
(batteries finds battery), and a query may mix both. Listings with every word come first; when
none has them all, listings with any (`matched: "any"`). A single English word that matches
nothing is retried with the closest indexed spelling one edit away (`corrected_query`).

Bounded by design: at most 2,000 matches (the candidate limit) are ranked and counted. `total`,
and the `facets` counted over the same candidates, are then lower bounds
(`total_is_lower_bound: true`, `facets.exact: false`): read them as "2,000+". Sorting by
`relevance` pages through the ranked candidates; `newest` and `price` (lowest upfront fee of any
offer) page through every match. Cursors hold the sort key and id, so pages neither repeat nor
skip while listings are published.

`highlights` hold excerpts of the matched fields, HTML-escaped, with the matched words in
`<em>…</em>`.

Deprecated: `mine=true` lists the caller's own listings in every status, exactly as
`GET /api/v1/listings/mine` does (then only `q`, `ipc`, `kind`, `royalty_type`, `owner_kind`,
`region` and `status` apply); use that route instead."""

# The filters that the search and the caller's own listings share.
SearchWords = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="Words in title, description or patents, Chinese or English.",
        examples=["锂离子电池 thermal management"],
    ),
]
IpcFilter = Annotated[
    IpcPrefix | None,
    Query(description="IPC prefix at any level: `G`, `G06F`, `G06F 16`, `G06F 16/33`."),
]
KindFilter = Annotated[PatentKind | None, Query(description="Patent kind.")]
RegionFilter = Annotated[str | None, Query(max_length=100)]


class ListingSearchQuery(BaseModel):
    """The search's own query parameters, read as one model: FastAPI then validates them in one
    call instead of one by one, which cost a browse page about a tenth of its time. Declared
    as the route's parameters were, so the OpenAPI document and the errors are the same (the
    page size and cursor stay in ``PageParamsDep``, whose errors come first)."""

    q: SearchWords = None
    ipc: IpcFilter = None
    royalty_type: RoyaltyType | None = None
    kind: KindFilter = None
    owner_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
    owner_kind: OrganizationKind | None = None
    region: RegionFilter = None
    max_upfront_fee: Annotated[
        Decimal | None,
        Query(ge=0, le=Decimal("1e15"), description="Some offer's upfront fee is at most this."),
    ] = None
    max_royalty_rate: Annotated[
        Decimal | None,
        Query(ge=0, le=100, description="Some offer's royalty rate (percent) is at most this."),
    ] = None
    min_remaining_years: Annotated[
        int | None,
        Query(ge=0, le=30, description="Every covered patent stays in force this many years."),
    ] = None
    published_after: Annotated[
        date | None, Query(description="Published on or after this day (UTC).")
    ] = None
    sort: Annotated[
        SearchSort | None,
        Query(description="Default: `relevance` with `q`, `newest` without."),
    ] = None
    mine: Annotated[
        bool,
        Query(
            deprecated=True,
            description="Deprecated, use `GET /api/v1/listings/mine`: the caller's own listings "
            "in every status (needs a token).",
        ),
    ] = False
    listing_status: Annotated[
        ListingStatus | None,
        Query(
            alias="status",
            deprecated=True,
            description="With `mine=true`: only this status.",
        ),
    ] = None

    def deprecated_own_listings(self) -> tuple[bool, ListingStatus | None]:
        """``mine`` and ``status``, read without the warning pydantic gives on reading a
        deprecated field: they are deprecated for clients, and the route still serves them."""
        return self.__dict__["mine"], self.__dict__["listing_status"]


@router.get(
    "/listings",
    response_model=ListingSearchPage,
    responses=problem_responses(401, 422),
    summary="Search published listings (public); `mine=true` is deprecated",
    description=SEARCH_DESCRIPTION,
)
def list_listings(
    caller: OptionalCaller,
    session: SessionDep,
    page: PageParamsDep,
    query: Annotated[ListingSearchQuery, Query()],
) -> ListingSearchPage | Response:
    mine, listing_status = query.deprecated_own_listings()
    if mine:
        if caller is None:
            raise Unauthorized("mine=true needs a bearer token.")
        public_only = {
            "max_upfront_fee": query.max_upfront_fee,
            "max_royalty_rate": query.max_royalty_rate,
            "min_remaining_years": query.min_remaining_years,
            "published_after": query.published_after,
        }
        given = [name for name, value in public_only.items() if value is not None]
        if given or query.sort is not None:
            raise Unprocessable(
                f"{', '.join([*given, *(['sort'] if query.sort else [])])}: only for the public "
                "search."
            )
        return list_own_listings(
            caller=caller,
            session=session,
            page=page,
            q=query.q,
            ipc=query.ipc,
            royalty_type=query.royalty_type,
            kind=query.kind,
            owner_kind=query.owner_kind,
            region=query.region,
            listing_status=listing_status,
        )
    result = demand.search_and_record(
        session=session,
        q=query.q,
        filters=search.SearchFilters.of(query),
        sort=query.sort,
        limit=page.limit,
        cursor=page.cursor,
    )
    found = pages.search_page(session=session, result=result, limit=page.limit)
    end_read(session)
    return ready_json(found)


def ready_json(model: BaseModel) -> Response:
    """The response model serialized here, as FastAPI would (by alias, the same bytes), while
    the route still runs on its worker thread: returned as a model, it would take one more trip
    to the threadpool to be validated again (the route's schema still documents it).

    The read routes that use it end their transaction first (``end_read``), on the same thread,
    for the same reason: the session dependency then has nothing left to commit off the event
    loop."""
    return Response(content=model.model_dump_json(by_alias=True), media_type="application/json")


@router.get(
    "/listings/mine",
    response_model=ListingSearchPage,
    responses=problem_responses(401, 422),
    summary="The caller's own listings in every status",
    description="Drafts, published and withdrawn listings of the caller's organization, newest "
    "first, cursor pages; `status` narrows them to one status. `q` (a plain substring of the "
    "titles, descriptions and patents), `ipc`, `kind`, `royalty_type`, `owner_kind` and "
    "`region` filter them as in the search. Items have no `score` or `highlights`, and the page "
    "no `facets`.",
)
def list_own_listings(
    caller: CurrentCaller,
    session: SessionDep,
    page: PageParamsDep,
    q: SearchWords = None,
    ipc: IpcFilter = None,
    royalty_type: RoyaltyType | None = None,
    kind: KindFilter = None,
    owner_kind: OrganizationKind | None = None,
    region: RegionFilter = None,
    listing_status: Annotated[
        ListingStatus | None, Query(alias="status", description="Only this status.")
    ] = None,
) -> ListingSearchPage:
    items, next_cursor = listings.list_listings(
        session=session,
        params=page,
        owner_id=caller.organization_id,
        statuses=(listing_status,) if listing_status else tuple(ListingStatus),
        q=q,
        ipc=ipc,
        royalty_type=royalty_type,
        kind=kind,
        owner_kind=owner_kind,
        region=region,
    )
    return ListingSearchPage(
        items=[
            ListingHit.model_validate(public.model_dump())
            for public in listing_workflows.public_listings(session, items)
        ],
        next_cursor=next_cursor,
        limit=page.limit,
    )


@router.get(
    "/listings/{listing_id}",
    response_model=ListingPublic,
    responses=problem_responses(401, 404, 422),
    summary="A listing with its patents and offers (drafts only to their owner)",
)
def get_listing(listing_id: ObjectId, caller: OptionalCaller, session: SessionDep) -> Response:
    listing = listing_workflows.view_listing(
        session=session,
        listing_id=listing_id,
        organization_id=caller.organization_id if caller else None,
    )
    end_read(session)
    return ready_json(listing)


@router.patch(
    "/listings/{listing_id}",
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Edit a draft's title or description",
    openapi_extra=response_example(200, "listing"),
)
def update_listing(listing: OwnListing, body: ListingUpdate, session: SessionDep) -> ListingPublic:
    return listing_workflows.public_listing(
        session, declarations.update_draft(session=session, listing=listing, changes=body)
    )


@router.delete(
    "/listings/{listing_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Delete a draft",
)
def delete_listing(listing: OwnListing, session: SessionDep) -> Response:
    listings.delete_listing(session=session, listing=listing)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/listings/{listing_id}/offers",
    status_code=status.HTTP_201_CREATED,
    response_model=OfferPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Add a standard offer to a draft listing",
    openapi_extra=response_example(201, "offer"),
)
def add_offer(listing: OwnListing, body: OfferCreate, session: SessionDep) -> OfferPublic:
    offer = listings.add_offer(session=session, listing=listing, data=body)
    return OfferPublic.model_validate(offer)


@router.patch(
    "/offers/{offer_id}",
    response_model=OfferPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Change an offer of a draft listing",
    openapi_extra=response_example(200, "offer"),
)
def update_offer(own: OwnOffer, body: OfferUpdate, session: SessionDep) -> OfferPublic:
    listing, offer = own
    updated = listings.update_offer(session=session, listing=listing, offer=offer, changes=body)
    return OfferPublic.model_validate(updated)


@router.delete(
    "/offers/{offer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Remove an offer from a draft listing",
)
def delete_offer(own: OwnOffer, session: SessionDep) -> Response:
    listing, offer = own
    listings.delete_offer(session=session, listing=listing, offer=offer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/listings/{listing_id}/precheck",
    response_model=Precheck,
    responses=problem_responses(401, 403, 404, 422),
    summary="Every reason the listing cannot be published now, without publishing it",
)
def precheck(listing: OwnListing, session: SessionDep) -> Precheck:
    blockers = declarations.publication_blockers(session=session, listing=listing)
    return Precheck(
        publishable=not blockers, blockers=blockers, warnings=publication.guidance_warnings(listing)
    )


@router.get(
    "/listings/{listing_id}/declaration",
    response_model=Declaration,
    responses=problem_responses(401, 403, 404, 422),
    summary="The declaration's content, prepared for filing with the office (owner only)",
    description="What the written open-license declaration states: the patents (numbers, "
    "titles, kinds, co-owners), each offer's royalty payment method and standard and its term, "
    "the co-owners' consent, the evaluation reports of utility models and designs, and the "
    "annual-fee reduction that applies once announced. The patentee files it with the office; "
    "the office announces it, and the patentee then publishes the listing with the "
    "announcement's number and date. For a draft, `blockers` say what would refuse it now.",
)
def get_declaration(
    listing_id: ObjectId, caller: ListingsScope, session: SessionDep
) -> Declaration:
    listing = listings.get_declaring_listing(
        session=session, listing_id=listing_id, organization_id=caller.organization_id
    )
    return declarations.declaration_of(session=session, listing=listing)


@router.post(
    "/listings/{listing_id}/publish",
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record the office's announcement of the declaration: its offers can be accepted",
    description="The office announces an open-license declaration; the platform records its "
    "`announcement_number` and `announcement_date` as the patentee received them, after every "
    "declaration check (409 `publication_refused` reasons as in the precheck; 409 "
    "`announcement_number_in_use`; 422 `invalid_announcement_number`, "
    "`announcement_date_out_of_range`). The platform never assigns announcement numbers.",
    openapi_extra=lawful_sequence.openapi(
        step="1. The office announced the declaration: its number and date are recorded",
        request=lawful_sequence.PUBLISH_REQUEST,
        response=lawful_sequence.PUBLISH_RESPONSE,
        status=200,
    ),
)
def publish_listing(
    listing: OwnListing,
    body: DeclarationAnnouncement,
    _verified: VerifiedListingsScope,
    session: SessionDep,
) -> ListingPublic:
    return listing_workflows.public_listing(
        session, declarations.publish_listing(session=session, listing=listing, announcement=body)
    )


@router.post(
    "/listings/{listing_id}/withdraw",
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Request the withdrawal of the declaration, with its reason and co-owners' consent",
    description="Records the patentee's written withdrawal: a `reason` and the written consent "
    "of every co-owner of the covered patents, each named (422 "
    "`co_owner_withdrawal_consent_missing`, `unknown_co_owner`). The declaration stands, stays "
    "searchable and its offers can still be accepted until the office's withdrawal "
    "announcement is recorded (`POST /listings/{id}/withdrawal-announcement`); licenses "
    "already granted are never affected. 409 `withdrawal_already_requested`, "
    "`listing_not_published`.",
    openapi_extra=response_example(200, "withdrawal_requested_listing"),
)
def withdraw_listing(
    listing: OwnListing, body: WithdrawalRequest, session: SessionDep
) -> ListingPublic:
    return listing_workflows.public_listing(
        session, declarations.request_withdrawal(session=session, listing=listing, request=body)
    )


@router.post(
    "/listings/{listing_id}/withdrawal-cancellation",
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Cancel a requested withdrawal before the office announces it",
    description="The patentee takes back its withdrawal request: the declaration simply stays "
    "in force (it never stopped being acceptable), and the patentee, the holders of licenses "
    "under it and the pledgees of its patents, who were told of the request, receive "
    "`declaration.withdrawal_cancelled`. 409 `withdrawal_not_requested` (nothing to cancel), "
    "`withdrawal_already_announced` (the office's announcement is recorded: the declaration "
    "has ended), `listing_not_published`.",
)
def cancel_withdrawal(listing: OwnListing, session: SessionDep) -> ListingPublic:
    return listing_workflows.public_listing(
        session, declarations.cancel_withdrawal(session=session, listing=listing)
    )


@router.post(
    "/listings/{listing_id}/withdrawal-announcement",
    response_model=ListingPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record the office's announcement of the withdrawal: the listing is withdrawn",
    description="The withdrawal takes effect on the office's announcement: the listing becomes "
    "`withdrawn` and leaves search; licenses already granted stand. 409 "
    "`withdrawal_not_requested`, `announcement_number_in_use`, `listing_not_published`; 422 "
    "`invalid_announcement_number`, `announcement_date_out_of_range` (in the future, or before "
    "the withdrawal was requested).",
    openapi_extra=response_example(200, "withdrawn_listing"),
)
def record_withdrawal_announcement(
    listing: OwnListing, body: WithdrawalAnnouncement, session: SessionDep
) -> ListingPublic:
    return listing_workflows.public_listing(
        session,
        declarations.record_withdrawal_announcement(
            session=session, listing=listing, announcement=body
        ),
    )


@router.post(
    "/listings/bulk",
    response_model=BulkDeclarationOutcome,
    responses=problem_responses(401, 403, 422),
    summary="Declare open licenses for many patents at once from one offer template",
    description=(
        "Each patent gets a listing of its own (titled after the patent) with the offer, and is "
        "published when `publish` is true, with the office's announcement of its declaration "
        "given in `announcements` (one per patent, 422 otherwise), exactly as one at a time. "
        "Without `publish` the listings are drafts, to file with the office and publish each "
        "once announced. The result says, per patent, "
        "`published`, `drafted`, `refused` (with the reasons and codes of publishing) or "
        "`not_found`. A refused patent leaves nothing behind and does not stop the others; the "
        f"rest commit together. At most {MAX_BULK_DECLARATIONS} patents per request."
    ),
    openapi_extra=response_example(200, "bulk_declaration"),
)
def declare_in_bulk(
    body: BulkDeclarationCreate, caller: ListingsScope, session: SessionDep
) -> BulkDeclarationOutcome:
    if body.publish and not caller.is_verified:
        raise OrganizationNotVerified(
            "Your organization must be verified by the platform before it can do this."
        )
    return declarations.declare_in_bulk(session=session, owner=caller.organization, data=body)


@router.post(
    "/listings/bulk-publish",
    response_model=BulkPublicationOutcome,
    responses=problem_responses(401, 403, 422),
    summary="Publish many drafts at once, each with the office's announcement of its declaration",
    description=(
        "For drafts filed with the office (for instance from `POST /listings/bulk` without "
        "`publish`) once their declarations are announced: each listing is published with its own "
        "`announcement_number` and `announcement_date`, exactly as one at a time. The result says, "
        "per listing, `published`, `refused` (with the reasons and codes of publishing) or "
        "`not_found` (another organization's listing too). A refused listing stays a draft and "
        f"does not stop the others; the rest commit together. At most {MAX_BULK_DECLARATIONS} "
        "listings per request."
    ),
    openapi_extra=response_example(200, "bulk_publication"),
)
def publish_in_bulk(
    body: BulkPublicationCreate, caller: VerifiedListingsScope, session: SessionDep
) -> BulkPublicationOutcome:
    return declarations.publish_in_bulk(session=session, owner=caller.organization, data=body)
