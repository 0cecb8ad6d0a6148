"""Organizations, users, API clients and the OAuth2 grants. Callers commit; this module flushes."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts import security
from marketplace.accounts.caller import Caller
from marketplace.accounts.errors import (
    ApiClientNotFound,
    ApiClientRevoked,
    CannotDeactivateSelf,
    CreditCodeTaken,
    EmailTaken,
    InvalidAccount,
    InvalidClient,
    InvalidGrant,
    KindNotAllowed,
    OAuthError,
    OrganizationNotFound,
    OrganizationNotPending,
    RefreshTokenReused,
    UserNotFound,
    WeakPassword,
)
from marketplace.accounts.models import (
    ApiClient,
    MemberCreate,
    Organization,
    OrganizationCreate,
    OrganizationKind,
    RefreshToken,
    RevokedAccessToken,
    RevokedLogin,
    User,
    UserCreate,
    UserRole,
    Verification,
)
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.errors import field_errors, summary
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.sessions import end_read
from marketplace.text import find_control_character

# What each kind of organization may do. A token carries a subset of its organization's scopes.
SCOPES_BY_KIND: dict[OrganizationKind, frozenset[str]] = {
    # Any entity may take a license (Patent Law art. 51), universities and institutes included;
    # never under its own declaration (the acceptance refuses that).
    OrganizationKind.university: frozenset({"patents", "listings", "licenses", "licenses:accept"}),
    OrganizationKind.research_institute: frozenset(
        {"patents", "listings", "licenses", "licenses:accept"}
    ),
    OrganizationKind.enterprise: frozenset({"patents", "listings", "licenses", "licenses:accept"}),
    OrganizationKind.bank: frozenset({"pledges", "encumbrances"}),
    OrganizationKind.platform: frozenset({"admin"}),
}

# Before the platform verifies it, an organization may prepare its own records (patents, draft
# listings) and read what concerns itself, never act on the market or read the pledge register:
# accepting offers, publishing and registering pledges also check verification themselves.
SCOPES_WHILE_PENDING: dict[OrganizationKind, frozenset[str]] = {
    OrganizationKind.university: frozenset({"patents", "listings", "licenses"}),
    OrganizationKind.research_institute: frozenset({"patents", "listings", "licenses"}),
    OrganizationKind.enterprise: frozenset({"patents", "listings", "licenses"}),
    OrganizationKind.bank: frozenset(),
    OrganizationKind.platform: frozenset(),
}

_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "qwerty123456",
        "iloveyou123",
        "admin12345",
        "letmein123",
        "welcome123",
        "abc1234567",
        "a1234567890",
        "changeme123",
    }
)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    scopes: frozenset[str]
    refresh_token: str | None


def check_password_strength(password: str, *, email: str) -> None:
    settings = get_settings()
    problems: list[str] = []
    if len(password) < settings.password_min_length:
        problems.append(f"use at least {settings.password_min_length} characters")
    if len(set(password)) < 5:
        problems.append("use at least 5 different characters")
    if password.lower() in _COMMON_PASSWORDS:
        problems.append("this password is among the most common ones")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        problems.append("do not include your email name")
    if problems:
        raise WeakPassword("Password too weak: " + "; ".join(problems) + ".")


def _ensure_email_free(session: Session, email: str) -> None:
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken(f"{email} is already registered.")


def signup(
    *, session: Session, organization: OrganizationCreate, user: UserCreate
) -> tuple[Organization, User]:
    """A new organization, pending verification, with its first user as its admin."""
    if organization.kind == OrganizationKind.platform:
        raise KindNotAllowed("Platform organizations are created by operators, not by signup.")
    check_password_strength(user.password, email=user.email)
    _ensure_email_free(session, user.email)
    if organization.credit_code is not None:
        existing = session.scalar(
            select(Organization.id).where(Organization.credit_code == organization.credit_code)
        )
        if existing is not None:
            raise CreditCodeTaken(
                f"An organization with credit code {organization.credit_code} is registered."
            )
    org = Organization.model_validate(organization)
    session.add(org)
    session.flush()
    assert org.id is not None
    account = User(
        email=user.email,
        full_name=user.full_name,
        organization_id=org.id,
        role=UserRole.admin,
        password_hash=security.hash_secret(user.password),
    )
    session.add(account)
    session.flush()
    return org, account


def add_member(*, session: Session, admin: User, data: MemberCreate) -> User:
    """A new user of the admin's organization."""
    check_password_strength(data.password, email=data.email)
    _ensure_email_free(session, data.email)
    member = User(
        email=data.email,
        full_name=data.full_name,
        organization_id=admin.organization_id,
        role=data.role,
        password_hash=security.hash_secret(data.password),
    )
    session.add(member)
    session.flush()
    return member


def list_members(
    *, session: Session, organization_id: int, params: PageParams
) -> tuple[Sequence[User], str | None]:
    statement = select(User).where(User.organization_id == organization_id)
    return paginate_by_id(session, statement, id_column=User.id, params=params)


def deactivate_member(*, session: Session, admin: User, user_id: int) -> User:
    """Ends a colleague's access at once: their tokens are refused from the next request."""
    member = session.get(User, user_id)
    if member is None or member.organization_id != admin.organization_id:
        raise UserNotFound(f"User {user_id} does not exist.")
    if member.id == admin.id:
        raise CannotDeactivateSelf("Ask another admin of your organization to do this.")
    if member.is_active:
        member.is_active = False
        session.add(member)
        session.flush()
    return member


def create_platform_admin(*, session: Session, email: str, password: str, full_name: str) -> User:
    """The operator's account; its platform organization is created on first use. The e-mail and
    name pass the same checks as the API's, so that the API can show what is created here."""
    try:
        data = UserCreate(email=email, full_name=full_name, password=password)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise InvalidAccount(summary(errors), errors=errors) from None
    found = find_control_character({"email": email, "full_name": full_name})
    if found is not None:
        raise InvalidAccount(f"{found[0]} holds the control character {found[1]}.")
    email, full_name = data.email, data.full_name
    check_password_strength(password, email=email)
    _ensure_email_free(session, email)
    platform = session.scalar(
        select(Organization).where(Organization.kind == OrganizationKind.platform)
    )
    if platform is None:
        platform = Organization(
            name="Platform operations",
            kind=OrganizationKind.platform,
            country="CN",
            verification=Verification.verified,
            verified_at=clock.now(),
        )
        session.add(platform)
        session.flush()
    assert platform.id is not None
    admin = User(
        email=email,
        full_name=full_name,
        organization_id=platform.id,
        role=UserRole.admin,
        password_hash=security.hash_secret(password),
    )
    session.add(admin)
    session.flush()
    return admin


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """The user a token names, its organization, and whether the token has been revoked."""

    user: User
    organization: Organization
    token_revoked: bool


def get_signed_in_user(
    *, session: Session, user_id: int, jti: str, login_id: str | None
) -> SignedInUser | None:
    """The user with its organization and the token's revocation, in one query: every
    signed-in request needs all three. None when there is no such user (the revocation is then
    ``is_access_token_revoked``'s to tell)."""
    found = session.execute(
        _SIGNED_IN_USER if login_id is None else _SIGNED_IN_USER_OF_LOGIN,
        {"user_id": user_id, "jti": jti, "login_id": login_id},
    ).first()
    if found is None:
        return None
    user, organization, revoked = found
    return SignedInUser(user, organization, revoked is True)


def get_organization(*, session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise OrganizationNotFound(f"Organization {organization_id} does not exist.")
    return org


def get_visible_organization(
    *, session: Session, organization_id: int, caller: Caller
) -> Organization:
    """Verified organizations are public to signed-in callers; a pending or rejected one only
    to itself and to platform admins."""
    organization = get_organization(session=session, organization_id=organization_id)
    visible = (
        organization.verification == Verification.verified
        or organization.id == caller.organization_id
        or caller.is_platform_admin
    )
    if not visible:
        raise OrganizationNotFound(f"Organization {organization_id} does not exist.")
    return organization


def list_organizations(
    *,
    session: Session,
    params: PageParams,
    verification: Verification | None = None,
    kind: OrganizationKind | None = None,
) -> tuple[Sequence[Organization], str | None]:
    statement = select(Organization)
    if verification is not None:
        statement = statement.where(Organization.verification == verification)
    if kind is not None:
        statement = statement.where(Organization.kind == kind)
    return paginate_by_id(session, statement, id_column=Organization.id, params=params)


def decide_verification(
    *, session: Session, organization: Organization, approve: bool, reason: str | None = None
) -> Organization:
    # A conditional update, so that two admins deciding at once cannot both succeed.
    if not transition(
        session,
        sa.update(Organization)
        .where(col(Organization.id) == organization.id)
        .where(col(Organization.verification) == Verification.pending)
        .values(
            verification=Verification.verified if approve else Verification.rejected,
            verified_at=clock.now() if approve else None,
            rejection_reason=None if approve else reason,
        ),
    ):
        raise OrganizationNotPending(
            f"Organization {organization.id} is already {organization.verification}."
        )
    session.refresh(organization)
    return organization


def kind_scopes(organization: Organization) -> frozenset[str]:
    """What a token of this organization may carry: its kind's scopes, none once rejected. A
    pending organization's tokens carry them all, so that verification takes effect at once."""
    if organization.verification == Verification.rejected:
        return frozenset()
    return SCOPES_BY_KIND[OrganizationKind(organization.kind)]


def allowed_scopes(organization: Organization) -> frozenset[str]:
    """What a request may use now: the kind's scopes as far as the organization's state allows
    (checked on every request, so a decision takes effect without waiting for token expiry)."""
    if organization.verification == Verification.pending:
        return SCOPES_WHILE_PENDING[OrganizationKind(organization.kind)]
    return kind_scopes(organization)


def _grant_scopes(requested: str | None, allowed: frozenset[str]) -> frozenset[str]:
    if not requested:
        return allowed
    wanted = frozenset(requested.split())
    if not wanted <= allowed:
        unknown = ", ".join(sorted(wanted - allowed))
        raise OAuthError(
            f"Scopes not available to this organization: {unknown}.", code="invalid_scope"
        )
    return wanted


def _issue_refresh_token(
    *, session: Session, user: User, scopes: frozenset[str], family_id: str
) -> str:
    assert user.id is not None
    token = security.new_opaque_token("mkr")
    session.add(
        RefreshToken(
            token_hash=security.fingerprint(token),
            family_id=family_id,
            user_id=user.id,
            scope=" ".join(sorted(scopes)),
            expires_at=clock.now() + timedelta(seconds=get_settings().refresh_token_ttl_seconds),
        )
    )
    return token


def _user_tokens(
    *,
    session: Session,
    user: User,
    organization: Organization,
    scopes: frozenset[str],
    family_id: str,
) -> IssuedTokens:
    assert organization.id is not None
    access = security.create_access_token(
        subject=f"user:{user.id}",
        organization_id=organization.id,
        scopes=scopes,
        login_id=family_id,
    )
    refresh = _issue_refresh_token(session=session, user=user, scopes=scopes, family_id=family_id)
    session.flush()
    # The response names the scopes usable now; the token carries those its state withholds.
    return IssuedTokens(
        access.token, access.expires_in, scopes & allowed_scopes(organization), refresh
    )


def password_grant(
    *, session: Session, email: str, password: str, scope: str | None
) -> IssuedTokens:
    user = session.scalar(select(User).where(User.email == email.lower()))
    # Read before the transaction ends: a session that expires objects on commit would
    # otherwise reload the user, and hold a connection, while hashing.
    stored_hash = user.password_hash if user is not None else None
    active = user is not None and user.is_active
    # No connection is held while hashing: a flood of sign-ins must not drain the pool.
    end_read(session)
    if user is None or stored_hash is None:
        security.verify_secret(security.dummy_hash(), password)
        raise InvalidGrant("Wrong email or password.")
    if not security.verify_secret(stored_hash, password) or not active:
        raise InvalidGrant("Wrong email or password.")
    organization = get_organization(session=session, organization_id=user.organization_id)
    scopes = _grant_scopes(scope, kind_scopes(organization))
    user.last_login_at = clock.now()
    session.add(user)
    return _user_tokens(
        session=session,
        user=user,
        organization=organization,
        scopes=scopes,
        family_id=str(uuid.uuid4()),
    )


def refresh_token_grant(*, session: Session, refresh_token: str, scope: str | None) -> IssuedTokens:
    """Rotate: the presented token is spent and a new one of the same family is issued."""
    now = clock.now()
    stored = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.fingerprint(refresh_token))
    )
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        raise InvalidGrant("The refresh token is unknown, expired or revoked.")
    # Spend it with a conditional update: of two concurrent uses, exactly one wins; the other is
    # treated as a replay, as it would be if it came later.
    if not transition(
        session,
        sa.update(RefreshToken)
        .where(col(RefreshToken.id) == stored.id)
        .where(col(RefreshToken.used_at).is_(None))
        .values(used_at=now),
    ):
        revoke_refresh_family(session=session, family_id=stored.family_id)
        raise RefreshTokenReused()
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise InvalidGrant("The account of this refresh token is disabled.")
    organization = get_organization(session=session, organization_id=user.organization_id)
    granted = frozenset(stored.scope.split()) & kind_scopes(organization)
    scopes = _grant_scopes(scope, granted)
    return _user_tokens(
        session=session,
        user=user,
        organization=organization,
        scopes=scopes,
        family_id=stored.family_id,
    )


def revoke_refresh_family(*, session: Session, family_id: str) -> None:
    """Ends a login: its refresh tokens at once, and its access tokens from their next request
    (``get_caller`` checks each token's login against ``revoked_login``)."""
    session.execute(
        sa.update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id)
        .where(col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if session.get(RevokedLogin, family_id) is None:
        # Wall-clock time, as for token expiry: after this no access token of the login is valid.
        ttl = timedelta(seconds=get_settings().access_token_ttl_seconds)
        session.add(RevokedLogin(login_id=family_id, expires_at=datetime.now(UTC) + ttl))
        session.flush()


def client_credentials_grant(
    *, session: Session, client_id: str, client_secret: str, scope: str | None
) -> IssuedTokens:
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    # As for passwords: what the check needs is read first, and no connection is held while
    # hashing.
    stored_hash = client.secret_hash if client is not None else None
    revoked = client is not None and client.revoked_at is not None
    end_read(session)
    if client is None or stored_hash is None:
        security.verify_secret(security.dummy_hash(), client_secret)
        raise InvalidClient()
    if not security.verify_secret(stored_hash, client_secret) or revoked:
        raise InvalidClient()
    organization = get_organization(session=session, organization_id=client.organization_id)
    scopes = _grant_scopes(scope, kind_scopes(organization))
    client.last_used_at = clock.now()
    session.add(client)
    session.flush()
    access = security.create_access_token(
        subject=f"client:{client.client_id}", organization_id=client.organization_id, scopes=scopes
    )
    # Machines hold their secret; they get no refresh token (RFC 6749 section 4.4.3).
    return IssuedTokens(
        access.token, access.expires_in, scopes & allowed_scopes(organization), None
    )


def create_api_client(*, session: Session, creator: User, name: str) -> tuple[ApiClient, str]:
    """Returns the client and its secret, which is never stored or shown again."""
    assert creator.id is not None
    secret = security.new_opaque_token("mks")
    client = ApiClient(
        client_id=security.new_opaque_token("mkc")[:40],
        secret_hash=security.hash_secret(secret),
        name=name,
        organization_id=creator.organization_id,
        created_by_user_id=creator.id,
    )
    session.add(client)
    session.flush()
    return client, secret


def reset_api_client_secret(*, session: Session, client_id: str) -> tuple[ApiClient, str]:
    """An operator replaces a client's secret (the old one stops working at once) and hands the
    new one over: it is returned here only, and only its hash is stored. Access tokens already
    issued run to their expiry. The reset is in the audit trail (``credentials_reset_at``)."""
    client = session.scalar(select(ApiClient).where(col(ApiClient.client_id) == client_id))
    if client is None:
        raise ApiClientNotFound(f"API client {client_id} does not exist.")
    if client.revoked_at is not None:
        raise ApiClientRevoked(f"API client {client_id} was revoked; create a new one.")
    secret = security.new_opaque_token("mks")
    client.secret_hash = security.hash_secret(secret)
    client.credentials_reset_at = clock.now()
    session.add(client)
    session.flush()
    return client, secret


def list_api_clients(
    *, session: Session, organization_id: int, params: PageParams
) -> tuple[Sequence[ApiClient], str | None]:
    statement = select(ApiClient).where(ApiClient.organization_id == organization_id)
    return paginate_by_id(session, statement, id_column=ApiClient.id, params=params)


def get_api_client(*, session: Session, organization_id: int, api_client_id: int) -> ApiClient:
    client = session.get(ApiClient, api_client_id)
    if client is None or client.organization_id != organization_id:
        raise ApiClientNotFound(f"API client {api_client_id} does not exist.")
    return client


def revoke_api_client(*, session: Session, client: ApiClient) -> ApiClient:
    if client.revoked_at is None:
        client.revoked_at = clock.now()
        session.add(client)
        session.flush()
    return client


def is_access_token_revoked(*, session: Session, jti: str, login_id: str | None = None) -> bool:
    """One round trip per request: the token itself (logout) or its whole login (a reused
    refresh token, a logout that named the refresh token)."""
    return session.scalar(sa.select(_token_revoked(jti, login_id))) is True


def _token_revoked(
    jti: str | sa.BindParameter[str], login_id: str | sa.BindParameter[str] | None
) -> sa.ColumnElement[bool]:
    """Whether the token or its login was revoked, as a column of a select."""
    revoked_token = sa.select(col(RevokedAccessToken.jti)).where(col(RevokedAccessToken.jti) == jti)
    if login_id is None:
        return revoked_token.exists()
    revoked_login = sa.select(col(RevokedLogin.login_id)).where(
        col(RevokedLogin.login_id) == login_id
    )
    return sa.or_(revoked_token.exists(), revoked_login.exists())


def _signed_in_user(*, of_login: bool) -> sa.Select[User, Organization, bool]:
    """``get_signed_in_user``'s select; its parameters are ``user_id``, ``jti`` and (of a
    token naming its login) ``login_id``."""
    revoked = _token_revoked(
        sa.bindparam("jti", type_=sa.String),
        sa.bindparam("login_id", type_=sa.String) if of_login else None,
    )
    return (
        sa.select(User, Organization, revoked)
        .join(Organization, col(Organization.id) == col(User.organization_id))
        .where(col(User.id) == sa.bindparam("user_id"))
    )


# Built once: every signed-in request runs one of them.
_SIGNED_IN_USER = _signed_in_user(of_login=False)
_SIGNED_IN_USER_OF_LOGIN = _signed_in_user(of_login=True)


def logout(
    *,
    session: Session,
    jti: str,
    expires_at: datetime,
    user: User | None,
    refresh_token: str | None,
) -> None:
    """Ends the presented access token and, if given, the login its refresh token belongs to."""
    if session.get(RevokedAccessToken, jti) is None:
        session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
    if refresh_token and user is not None:
        stored = session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == security.fingerprint(refresh_token)
            )
        )
        if stored is not None and stored.user_id == user.id:
            revoke_refresh_family(session=session, family_id=stored.family_id)
    session.flush()
