"""Who is calling, and what they may do: the gates every route composes."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.caller import Caller
from marketplace.accounts.errors import (
    InsufficientScope,
    InvalidAccessToken,
    NotOrganizationAdmin,
    NotPlatformAdmin,
    OrganizationNotVerified,
    OrganizationRejected,
)
from marketplace.accounts.models import ApiClient, Organization, User, UserRole, Verification
from marketplace.audit.chain import Actor
from marketplace.audit.recorder import act_as
from marketplace.errors import Unauthorized
from marketplace.sessions import SessionDep

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    scopes={
        "patents": "Register and manage the organization's patents",
        "listings": "Draft, publish and withdraw open-license listings",
        "licenses": "Read the organization's licenses",
        "licenses:accept": "Accept offers and terminate own licenses",
        "pledges": "Register and query pledges",
        "encumbrances": "Check encumbrances",
        "admin": "Platform administration",
    },
)


def get_caller(session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Caller:
    if not token:
        raise Unauthorized("A bearer token is required.")
    try:
        claims = security.decode_access_token(token)
    except security.InvalidToken as exc:
        raise InvalidAccessToken("The token is invalid or expired.") from exc
    kind, _, ident = claims.subject.partition(":")
    signed_in: accounts.SignedInUser | None = None
    if kind == "user" and ident.isdigit():
        # A user's token: the user, its organization and the revocation in one round trip.
        signed_in = accounts.get_signed_in_user(
            session=session, user_id=int(ident), jti=claims.jti, login_id=claims.login_id
        )
    revoked = (
        signed_in.token_revoked
        if signed_in is not None
        else accounts.is_access_token_revoked(
            session=session, jti=claims.jti, login_id=claims.login_id
        )
    )
    if revoked:
        raise InvalidAccessToken("The token has been revoked.")
    user: User | None = None
    client: ApiClient | None = None
    organization: Organization | None = None
    if kind == "user" and ident.isdigit():
        if signed_in is not None:
            user, organization = signed_in.user, signed_in.organization
        if user is None or not user.is_active or user.organization_id != claims.organization_id:
            raise InvalidAccessToken("The token's account is disabled.")
    elif kind == "client":
        client = session.scalar(select(ApiClient).where(ApiClient.client_id == ident))
        if client is None or client.revoked_at is not None:
            raise InvalidAccessToken("The token's API client is revoked.")
    else:
        raise InvalidAccessToken("The token's subject is not recognised.")
    if organization is None:
        organization = accounts.get_organization(
            session=session, organization_id=claims.organization_id
        )
    # Scopes shrink at once when an organization is rejected, without waiting for token expiry.
    scopes = claims.scopes & accounts.allowed_scopes(organization)
    actor = f"user:{user.id}" if user is not None else f"client:{ident}"
    act_as(session, Actor(actor, organization_id=organization.id))
    return Caller(
        organization=organization,
        scopes=scopes,
        jti=claims.jti,
        token_expires_at=claims.expires_at,
        user=user,
        api_client=client,
    )


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_optional_caller(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Caller | None:
    """For public reads that show more to a signed-in caller; a bad token is still a 401.
    Async so that an anonymous read, the common case, takes no trip to the threadpool."""
    return None if token is None else await run_in_threadpool(get_caller, session, token)


OptionalCaller = Annotated[Caller | None, Depends(get_optional_caller)]


def _missing_scope(caller: Caller, scope: str) -> Exception:
    """Why a caller lacks a scope: its organization's state withholds it, or it never had it."""
    if scope in accounts.SCOPES_BY_KIND[caller.kind]:
        if caller.organization.verification == Verification.rejected:
            return OrganizationRejected(
                "Your organization was rejected by the platform.", required_scope=scope
            )
        if caller.organization.verification == Verification.pending:
            return OrganizationNotVerified(
                "Your organization must be verified by the platform before it can do this.",
                required_scope=scope,
            )
    return InsufficientScope(f"This needs the '{scope}' scope.", required_scope=scope)


# The gates are async: they only look at the caller, and a synchronous dependency would cost
# every request a trip to the threadpool and back.
def require_scope(scope: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def gate(caller: CurrentCaller) -> Caller:
        _check_scope(caller, scope)
        return caller

    return gate


def require_verified_scope(scope: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def gate(caller: CurrentCaller) -> Caller:
        _check_scope(caller, scope)
        if not caller.is_verified:
            raise OrganizationNotVerified(
                "Your organization must be verified by the platform before it can do this."
            )
        return caller

    return gate


def _check_scope(caller: Caller, scope: str) -> None:
    if scope not in caller.scopes:
        raise _missing_scope(caller, scope)


def _platform_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_platform_admin:
        raise NotPlatformAdmin("Only platform administrators may do this.")
    return caller


def _organization_admin(caller: CurrentCaller) -> User:
    if caller.user is None or caller.user.role != UserRole.admin:
        raise NotOrganizationAdmin("Only an administrator of your organization may do this.")
    return caller.user


def _admin_of_unrejected(caller: CurrentCaller) -> User:
    """Adding colleagues: while pending, to prepare the organization's records; never once it
    has been rejected."""
    admin = _organization_admin(caller)
    if caller.organization.verification == Verification.rejected:
        raise OrganizationRejected("Your organization was rejected by the platform.")
    return admin


def _admin_of_verified(caller: CurrentCaller) -> User:
    """Machine access and event delivery: for organizations the platform has verified."""
    admin = _admin_of_unrejected(caller)
    if caller.organization.verification != Verification.verified:
        raise OrganizationNotVerified(
            "Your organization must be verified by the platform before it can do this."
        )
    return admin


PlatformAdmin = Annotated[Caller, Depends(_platform_admin)]
# Reading and ending access (listing users, revoking clients) stays open to a rejected
# organization's admin; granting new access does not.
OrganizationAdmin = Annotated[User, Depends(_organization_admin)]
MembersAdmin = Annotated[User, Depends(_admin_of_unrejected)]
VerifiedOrganizationAdmin = Annotated[User, Depends(_admin_of_verified)]


# The scope gates, declared once: a route names the alias, never `require_scope("...")` itself.
PatentsScope = Annotated[Caller, Depends(require_scope("patents"))]
ListingsScope = Annotated[Caller, Depends(require_scope("listings"))]
VerifiedListingsScope = Annotated[Caller, Depends(require_verified_scope("listings"))]
LicensesScope = Annotated[Caller, Depends(require_scope("licenses"))]
LicenseeScope = Annotated[Caller, Depends(require_scope("licenses:accept"))]
VerifiedLicenseeScope = Annotated[Caller, Depends(require_verified_scope("licenses:accept"))]
PledgesScope = Annotated[Caller, Depends(require_scope("pledges"))]
VerifiedPledgesScope = Annotated[Caller, Depends(require_verified_scope("pledges"))]
EncumbrancesScope = Annotated[Caller, Depends(require_scope("encumbrances"))]


def _pledge_reader(caller: CurrentCaller) -> Caller:
    """Banks read pledges with the pledges scope, pledgors with the patents scope."""
    if not (caller.is_platform_admin or caller.scopes & {"pledges", "patents"}):
        raise _missing_scope(caller, "pledges")
    return caller


PledgeReader = Annotated[Caller, Depends(_pledge_reader)]
