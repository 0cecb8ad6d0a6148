"""Who is calling, and what they may do: the gates every route composes."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import select

from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.errors import (
    InsufficientScope,
    InvalidAccessToken,
    NotOrganizationAdmin,
    NotPlatformAdmin,
    OrganizationNotVerified,
)
from marketplace.accounts.models import (
    ApiClient,
    Organization,
    OrganizationKind,
    User,
    UserRole,
    Verification,
)
from marketplace.audit.recorder import Actor, act_as
from marketplace.db import SessionDep
from marketplace.errors import Unauthorized

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


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user or an API client, acting for one organization."""

    organization: Organization
    scopes: frozenset[str]
    jti: str
    token_expires_at: datetime
    user: User | None = None
    api_client: ApiClient | None = None

    @property
    def organization_id(self) -> int:
        assert self.organization.id is not None
        return self.organization.id

    @property
    def is_verified(self) -> bool:
        return self.organization.verification == Verification.verified

    @property
    def is_platform_admin(self) -> bool:
        return self.organization.kind == OrganizationKind.platform and "admin" in self.scopes


def get_principal(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise Unauthorized("A bearer token is required.")
    try:
        claims = security.decode_access_token(token)
    except security.InvalidToken as exc:
        raise InvalidAccessToken("The token is invalid or expired.") from exc
    if accounts.is_access_token_revoked(session=session, jti=claims.jti):
        raise InvalidAccessToken("The token has been revoked.")
    kind, _, ident = claims.subject.partition(":")
    user: User | None = None
    client: ApiClient | None = None
    if kind == "user" and ident.isdigit():
        user = session.get(User, int(ident))
        if user is None or not user.is_active or user.organization_id != claims.organization_id:
            raise InvalidAccessToken("The token's account is disabled.")
    elif kind == "client":
        client = session.scalar(select(ApiClient).where(ApiClient.client_id == ident))
        if client is None or client.revoked_at is not None:
            raise InvalidAccessToken("The token's API client is revoked.")
    else:
        raise InvalidAccessToken("The token's subject is not recognised.")
    organization = accounts.get_organization(
        session=session, organization_id=claims.organization_id
    )
    # Scopes shrink at once when an organization is rejected, without waiting for token expiry.
    scopes = claims.scopes & accounts.allowed_scopes(organization)
    actor = f"user:{user.id}" if user is not None else f"client:{ident}"
    act_as(session, Actor(actor, organization_id=organization.id))
    return Principal(
        organization=organization,
        scopes=scopes,
        jti=claims.jti,
        token_expires_at=claims.expires_at,
        user=user,
        api_client=client,
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_optional_principal(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    """For public reads that show more to a signed-in caller; a bad token is still a 401."""
    return None if token is None else get_principal(session, token)


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


def require_scope(scope: str) -> Callable[[Principal], Principal]:
    def gate(principal: CurrentPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise InsufficientScope(f"This needs the '{scope}' scope.", required_scope=scope)
        return principal

    return gate


def require_verified_scope(scope: str) -> Callable[[Principal], Principal]:
    scope_gate = require_scope(scope)

    def gate(principal: CurrentPrincipal) -> Principal:
        scope_gate(principal)
        if not principal.is_verified:
            raise OrganizationNotVerified(
                "Your organization must be verified by the platform before it can do this."
            )
        return principal

    return gate


def _platform_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_platform_admin:
        raise NotPlatformAdmin("Only platform administrators may do this.")
    return principal


def _organization_admin(principal: CurrentPrincipal) -> User:
    if principal.user is None or principal.user.role != UserRole.admin:
        raise NotOrganizationAdmin("Only an administrator of your organization may do this.")
    return principal.user


PlatformAdmin = Annotated[Principal, Depends(_platform_admin)]
OrganizationAdmin = Annotated[User, Depends(_organization_admin)]
