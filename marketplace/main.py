"""The app factory: routers, error handlers, per-process state. No business logic here."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI

from marketplace import __version__, openapi
from marketplace.accounts import security
from marketplace.accounts.throttle import AttemptLimiter, AttemptLimits, attempt_windows
from marketplace.api.accounts import router as accounts_router
from marketplace.api.audit import router as audit_router
from marketplace.api.disputes import router as disputes_router
from marketplace.api.events import router as events_router
from marketplace.api.export_review import router as export_review_router
from marketplace.api.imports import router as imports_router
from marketplace.api.licenses import router as licensing_router
from marketplace.api.licenses import well_known_router as licensing_well_known_router
from marketplace.api.listings import router as listings_router
from marketplace.api.needs import router as needs_router
from marketplace.api.obligations import router as royalties_router
from marketplace.api.patents import router as patents_router
from marketplace.api.pledges import router as pledges_router
from marketplace.api.saved_searches import router as saved_searches_router
from marketplace.api.stats import router as stats_router
from marketplace.api.webhooks import router as webhooks_router
from marketplace.audit import recorder as audit_recorder
from marketplace.audit import service as audit
from marketplace.config import get_settings
from marketplace.db import get_engine
from marketplace.errors import install_error_handlers
from marketplace.matching.demand_counters import DemandFlusher
from marketplace.middleware import BodyLimit, ConcurrencyLimit, ControlCharacterGuard
from marketplace.sessions import unit_of_work

DESCRIPTION = """
The API on which patent open licensing happens (Patent Law arts. 50-52).

* **Universities and institutes** register patents and publish open-license listings with
  standard offers.
* **Enterprises** search and get matched to listings, accept an offer in one call, hold a
  non-exclusive license, report sales and pay royalties.
* **Banks** query pledges and encumbrances (machine-to-machine, client credentials).
* **Platform admins** verify organizations, mediate license disputes, review technology exports
  and read conversion statistics.

A license under dispute keeps its `status`; it shows `disputed: true` and its `open_dispute_id`
while a dispute is open or in mediation.

Authenticate at `POST /api/v1/auth/token`. Every error is `application/problem+json` with a
stable `code`.
"""


logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # What exists at start-up lives as long as the process; taking it out of the collector's
    # generations keeps collection pauses short (p95 of the encumbrance check halved).
    gc.collect()
    gc.freeze()
    _chain_what_a_dead_server_left()
    interval = get_settings().demand_flush_seconds
    flusher = DemandFlusher(get_engine(), interval) if interval > 0 else None
    if flusher is not None:
        flusher.start()
    try:
        yield
    finally:
        if flusher is not None:
            flusher.stop()


def _chain_what_a_dead_server_left() -> None:
    """A server killed between a commit and the chaining of its audit entries left them
    pending (PostgreSQL): the next commit would chain them; a server starting does at once."""
    if get_engine().dialect.name != "postgresql":
        return
    try:
        with unit_of_work() as session:
            audit.chain_pending(session=session)
    except sa.exc.OperationalError:
        # A database not reachable yet does not keep the server from starting: the first
        # commit that audits anything chains what is pending.
        logger.warning("pending audit entries not chained at start-up", exc_info=True)


SIGN_IN_PATH = "/api/v1/auth/token"


def create_app() -> FastAPI:
    settings = get_settings()
    # Every change a request makes to an audited model is recorded and chained.
    audit_recorder.install()
    app = FastAPI(
        lifespan=lifespan,
        title="Open-licensing patent marketplace",
        version=__version__,
        description=DESCRIPTION,
        # Served from the package by marketplace.openapi, not from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "accounts", "description": "Signup, verification, tokens, API clients."},
            {
                "name": "patents",
                "description": "Patents an organization owns and their encumbrances.",
            },
            {"name": "listings", "description": "Open-license declarations and their offers."},
            {"name": "licenses", "description": "Accepting offers; the licenses that result."},
            {"name": "pledges", "description": "Pledge registration and the banks' checks."},
            {"name": "events", "description": "What changed for the caller, in order."},
            {"name": "stats", "description": "Conversion statistics for licensors and admins."},
            {
                "name": "certificates",
                "description": "Signed license certificates: public keys and verification.",
            },
            {
                "name": "royalties",
                "description": "Royalty reports, obligations and payments. Amounts are exact, "
                "and each obligation is rounded once to the currency's minor unit, half up.",
            },
            {"name": "audit", "description": "The hash-chained trail of every state change."},
            {"name": "webhooks", "description": "Events pushed to your endpoints, signed."},
            {
                "name": "export review",
                "description": "Licenses to foreign licensees in flagged technology categories.",
            },
            {
                "name": "disputes",
                "description": "License disputes: opened by a party, mediated by platform admins.",
            },
            {
                "name": "matching",
                "description": "SME profiles, technology needs, ranked matches, listing demand, "
                "saved searches and their alerts.",
            },
        ],
    )
    app.state.attempt_limiter = AttemptLimiter(
        AttemptLimits(
            per_address_and_account=settings.token_attempts_per_minute,
            per_account=settings.sign_in_attempts_per_account_per_minute,
            per_address=settings.sign_in_attempts_per_address_per_minute,
            overall=settings.sign_in_attempts_per_minute,
            registrations_per_address=settings.registrations_per_address_per_minute,
            members_per_organization=settings.members_added_per_organization_per_minute,
        ),
        store=attempt_windows(settings),
    )
    install_error_handlers(app)
    app.add_middleware(
        ConcurrencyLimit,
        limit=settings.max_concurrent_requests,
        pools={SIGN_IN_PATH: settings.max_concurrent_sign_ins},
    )
    app.add_middleware(ControlCharacterGuard)
    # Outermost: an oversized or anonymous large body is refused before it waits for a slot.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_request_body_bytes,
        # The multipart envelope around the file is small; the import route caps the file.
        upload_max_bytes=settings.import_max_upload_bytes + 64 * 1024,
        upload_paths=("/api/v1/imports",),
        anonymous_max_bytes=settings.anonymous_max_request_body_bytes,
        token_is_valid=security.access_token_is_well_formed,
        public_paths=("/api/v1/certificates/verify",),
    )
    for router in (
        accounts_router,
        patents_router,
        listings_router,
        licensing_router,
        pledges_router,
        events_router,
        stats_router,
        licensing_well_known_router,
        royalties_router,
        audit_router,
        webhooks_router,
        export_review_router,
        disputes_router,
        imports_router,
        needs_router,
        saved_searches_router,
    ):
        app.include_router(router)

    openapi.install(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness probe")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
