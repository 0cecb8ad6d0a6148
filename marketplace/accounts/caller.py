"""Who is calling: the one value that carries authorization facts from the route into services.

Services take a ``Caller`` rather than loose ``is_admin`` / ``is_bank`` flags, so that every rule
about who may do what reads the same facts. This module imports no web framework: services use it.
"""

from dataclasses import dataclass
from datetime import datetime

from marketplace.accounts.models import (
    ApiClient,
    Organization,
    OrganizationKind,
    User,
    UserRole,
    Verification,
)


@dataclass(frozen=True, slots=True)
class Caller:
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
    def kind(self) -> OrganizationKind:
        return OrganizationKind(self.organization.kind)

    @property
    def role(self) -> UserRole | None:
        """The user's role in the organization; ``None`` for an API client."""
        return None if self.user is None else UserRole(self.user.role)

    @property
    def is_verified(self) -> bool:
        return self.organization.verification == Verification.verified

    @property
    def is_platform_admin(self) -> bool:
        return self.kind == OrganizationKind.platform and "admin" in self.scopes

    @property
    def is_bank(self) -> bool:
        return self.kind == OrganizationKind.bank

    @property
    def is_organization_admin(self) -> bool:
        """An organization's admin user, or one of its API clients (which act for the whole
        organization); ordinary members are not."""
        return self.user is None or self.user.role == UserRole.admin
