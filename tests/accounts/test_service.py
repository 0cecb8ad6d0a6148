"""The accounts rules, called directly: no HTTP, the test's session is the transaction."""

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.errors import (
    ApiClientNotFound,
    CreditCodeTaken,
    EmailTaken,
    InvalidClient,
    InvalidGrant,
    KindNotAllowed,
    OAuthError,
    OrganizationNotPending,
    RefreshTokenReused,
    WeakPassword,
)
from marketplace.accounts.models import (
    ApiClient,
    Organization,
    OrganizationCreate,
    OrganizationKind,
    RefreshToken,
    RevokedAccessToken,
    User,
    UserCreate,
    UserRole,
    Verification,
)
from tests import factories
from tests.factories import PASSWORD, SetToday

ClientCredentials = Callable[[User], tuple[str, str]]


def _org_of(session: Session, user: User) -> Organization:
    org = session.get(Organization, user.organization_id)
    assert org is not None
    return org


def _family_revoked_at(session: Session, family_id: str) -> list[datetime | None]:
    # Read the column, not the ORM objects: the revocation is a bulk UPDATE that does not
    # refresh objects already in the identity map.
    return list(
        session.scalars(
            select(RefreshToken.revoked_at)
            .where(RefreshToken.family_id == family_id)
            .order_by(col(RefreshToken.id))
        )
    )


def _stored(session: Session, refresh_token: str) -> RefreshToken:
    stored = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.fingerprint(refresh_token))
    )
    assert stored is not None
    return stored


# --- passwords -------------------------------------------------------------------------------


def test_a_long_varied_password_is_strong_enough() -> None:
    accounts.check_password_strength(PASSWORD, email="wang.fang@example.com")


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("Ab3$xy9", "at least 10 characters"),
        ("abababababababab", "at least 5 different characters"),
        ("aaaabbbbccccdddd", "at least 5 different characters"),
        ("password123", "most common"),
        ("QwertyUiop", "most common"),
        ("my-wangfang-key-2026", "email name"),
        ("WANGFANG and more words", "email name"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, complaint: str) -> None:
    with pytest.raises(WeakPassword, match=complaint) as refused:
        accounts.check_password_strength(password, email="wangfang@example.com")
    assert refused.value.code == "weak_password"


def test_a_short_email_name_inside_the_password_is_allowed() -> None:
    # Three letters occur by chance in many good passwords; refusing them helps nobody.
    accounts.check_password_strength("a long ann phrase here", email="ann@example.com")


def test_every_problem_of_a_password_is_reported_at_once() -> None:
    with pytest.raises(WeakPassword) as refused:
        accounts.check_password_strength("aaaa", email="x@example.com")
    assert "at least 10 characters" in refused.value.detail
    assert "5 different characters" in refused.value.detail


# --- scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        # Any entity may take an open license (Patent Law art. 51): universities too.
        (OrganizationKind.university, {"patents", "listings", "licenses", "licenses:accept"}),
        (
            OrganizationKind.research_institute,
            {"patents", "listings", "licenses", "licenses:accept"},
        ),
        (OrganizationKind.enterprise, {"patents", "listings", "licenses", "licenses:accept"}),
        (OrganizationKind.bank, {"pledges", "encumbrances"}),
        (OrganizationKind.platform, {"admin"}),
    ],
)
def test_scopes_follow_the_organization_kind(
    session: Session, kind: OrganizationKind, scopes: set[str]
) -> None:
    assert accounts.allowed_scopes(factories.organization(session, kind=kind)) == scopes


def test_a_bank_cannot_publish_listings_or_accept_offers(session: Session) -> None:
    bank = factories.organization(session, kind=OrganizationKind.bank)
    assert not {"listings", "licenses:accept", "patents"} & accounts.allowed_scopes(bank)


def test_a_pending_organization_keeps_its_kinds_scopes(session: Session) -> None:
    # Verification gates what it may publish (require_verified_scope), not what it may read.
    pending = factories.organization(session, kind=OrganizationKind.university, verified=False)
    assert accounts.allowed_scopes(pending) == {"patents", "listings", "licenses"}


def test_a_rejected_organization_has_no_scopes(session: Session) -> None:
    org = factories.organization(session, verified=False)
    accounts.decide_verification(session=session, organization=org, approve=False, reason="fake")
    assert accounts.allowed_scopes(org) == frozenset()


# --- signup ----------------------------------------------------------------------------------


def _organization_create(**fields: object) -> OrganizationCreate:
    values: dict[str, object] = {
        "name": "Ningbo Materials",
        "kind": "enterprise",
        "credit_code": factories.credit_code(),
    }
    values.update(fields)
    return OrganizationCreate.model_validate(values)


def _user_create(email: str = "founder@ningbo.example.com", password: str = PASSWORD) -> UserCreate:
    return UserCreate(email=email, full_name="Chen Jie", password=password)


def test_signup_creates_a_pending_organization_and_its_admin(session: Session) -> None:
    org, user = accounts.signup(
        session=session, organization=_organization_create(), user=_user_create()
    )
    assert org.verification == Verification.pending
    assert org.verified_at is None
    assert user.organization_id == org.id
    assert user.role == UserRole.admin
    assert user.password_hash != PASSWORD
    assert security.verify_secret(user.password_hash, PASSWORD)


def test_signup_refuses_the_platform_kind(session: Session) -> None:
    with pytest.raises(KindNotAllowed):
        accounts.signup(
            session=session,
            organization=_organization_create(kind="platform"),
            user=_user_create(),
        )
    assert session.scalar(select(User).where(User.email == "founder@ningbo.example.com")) is None


def test_signup_refuses_a_registered_email(session: Session) -> None:
    factories.user(session, factories.organization(session), email="founder@ningbo.example.com")
    with pytest.raises(EmailTaken):
        accounts.signup(session=session, organization=_organization_create(), user=_user_create())


def test_signup_refuses_a_registered_credit_code(session: Session) -> None:
    existing = factories.organization(session)
    assert existing.credit_code is not None
    with pytest.raises(CreditCodeTaken):
        accounts.signup(
            session=session,
            organization=_organization_create(credit_code=existing.credit_code.lower()),
            user=_user_create(),
        )


def test_signup_checks_the_password_before_writing_anything(session: Session) -> None:
    organization = _organization_create()
    with pytest.raises(WeakPassword):
        accounts.signup(
            session=session, organization=organization, user=_user_create(password="short")
        )
    assert (
        session.scalar(
            select(Organization).where(Organization.credit_code == organization.credit_code)
        )
        is None
    )


# --- verification ----------------------------------------------------------------------------


def test_approving_verifies_at_the_current_time(session: Session, fixed_clock: datetime) -> None:
    org = factories.organization(session, verified=False)
    decided = accounts.decide_verification(session=session, organization=org, approve=True)
    assert decided.verification == Verification.verified
    assert decided.verified_at == fixed_clock
    assert decided.rejection_reason is None


def test_rejecting_keeps_the_reason(session: Session) -> None:
    org = factories.organization(session, verified=False)
    decided = accounts.decide_verification(
        session=session, organization=org, approve=False, reason="credit code belongs to another"
    )
    assert decided.verification == Verification.rejected
    assert decided.verified_at is None
    assert decided.rejection_reason == "credit code belongs to another"


def test_a_decided_organization_cannot_be_decided_again(session: Session) -> None:
    org = factories.organization(session, verified=True)
    with pytest.raises(OrganizationNotPending):
        accounts.decide_verification(session=session, organization=org, approve=False, reason="x")
    assert org.verification == Verification.verified


def test_a_decision_is_conditional_on_the_stored_state_not_the_loaded_one(
    session: Session,
) -> None:
    org = factories.organization(session, verified=False)
    # Another admin approves after this one loaded the organization: its object still says
    # pending, but the decision must not overwrite the other one.
    session.execute(
        sa.update(Organization)
        .where(col(Organization.id) == org.id)
        .values(verification=Verification.verified)
        .execution_options(synchronize_session=False)
    )
    assert org.verification == Verification.pending
    with pytest.raises(OrganizationNotPending):
        accounts.decide_verification(
            session=session, organization=org, approve=False, reason="duplicate"
        )
    stored = session.scalar(select(Organization.verification).where(col(Organization.id) == org.id))
    assert stored == Verification.verified


# --- password grant --------------------------------------------------------------------------


def test_password_grant_issues_tokens_and_records_the_login(
    session: Session, fixed_clock: datetime
) -> None:
    user = factories.member(session, kind=OrganizationKind.university)
    issued = accounts.password_grant(
        session=session, email=user.email.upper(), password=PASSWORD, scope=None
    )
    assert issued.scopes == {"patents", "listings", "licenses", "licenses:accept"}
    assert issued.refresh_token is not None
    assert security.decode_access_token(issued.access_token).subject == f"user:{user.id}"
    assert user.last_login_at == fixed_clock


def test_password_grant_refuses_a_wrong_password(session: Session) -> None:
    user = factories.member(session)
    with pytest.raises(InvalidGrant):
        accounts.password_grant(
            session=session, email=user.email, password=PASSWORD + "!", scope=None
        )


def test_password_grant_refuses_a_deactivated_user(session: Session) -> None:
    user = factories.member(session)
    user.is_active = False
    session.add(user)
    session.flush()
    with pytest.raises(InvalidGrant):
        accounts.password_grant(session=session, email=user.email, password=PASSWORD, scope=None)


def test_password_grant_narrows_to_the_requested_scopes(session: Session) -> None:
    user = factories.member(session)
    issued = accounts.password_grant(
        session=session, email=user.email, password=PASSWORD, scope="patents licenses"
    )
    assert issued.scopes == {"patents", "licenses"}
    assert _stored(session, issued.refresh_token or "").scope == "licenses patents"


def test_password_grant_refuses_a_scope_beyond_the_organizations(session: Session) -> None:
    bank_user = factories.member(session, kind=OrganizationKind.bank)
    with pytest.raises(OAuthError, match="listings") as refused:
        accounts.password_grant(
            session=session, email=bank_user.email, password=PASSWORD, scope="pledges listings"
        )
    assert refused.value.code == "invalid_scope"


# --- refresh grant ---------------------------------------------------------------------------


def _login(session: Session, user: User) -> str:
    issued = accounts.password_grant(
        session=session, email=user.email, password=PASSWORD, scope=None
    )
    assert issued.refresh_token is not None
    return issued.refresh_token


def test_refresh_rotates_within_the_same_login(session: Session, fixed_clock: datetime) -> None:
    user = factories.member(session)
    first = _login(session, user)
    rotated = accounts.refresh_token_grant(session=session, refresh_token=first, scope=None)
    assert rotated.refresh_token is not None
    assert rotated.refresh_token != first
    spent, fresh = _stored(session, first), _stored(session, rotated.refresh_token)
    session.refresh(spent)
    assert spent.used_at == fixed_clock
    assert fresh.family_id == spent.family_id
    assert fresh.used_at is None


def test_reusing_a_spent_refresh_token_revokes_its_whole_login(session: Session) -> None:
    user = factories.member(session)
    first = _login(session, user)
    second = accounts.refresh_token_grant(session=session, refresh_token=first, scope=None)
    assert second.refresh_token is not None
    family = _stored(session, first).family_id

    with pytest.raises(RefreshTokenReused) as refused:
        accounts.refresh_token_grant(session=session, refresh_token=first, scope=None)

    assert refused.value.code == "invalid_grant"
    # The refusal must be committed, or the attacker's replay would leave the family alive.
    assert refused.value.keeps_changes
    assert all(revoked is not None for revoked in _family_revoked_at(session, family))
    with pytest.raises(InvalidGrant):
        accounts.refresh_token_grant(
            session=session, refresh_token=second.refresh_token, scope=None
        )


def test_reuse_leaves_the_users_other_logins_alone(session: Session) -> None:
    user = factories.member(session)
    phone, laptop = _login(session, user), _login(session, user)
    accounts.refresh_token_grant(session=session, refresh_token=phone, scope=None)
    with pytest.raises(RefreshTokenReused):
        accounts.refresh_token_grant(session=session, refresh_token=phone, scope=None)
    assert accounts.refresh_token_grant(session=session, refresh_token=laptop, scope=None)


def test_an_expired_refresh_token_is_refused(session: Session, set_today) -> None:  # type: ignore[no-untyped-def]
    user = factories.member(session)
    token = _login(session, user)
    set_today(date(2026, 7, 16))  # 31 days later; the lifetime is 30 days
    with pytest.raises(InvalidGrant):
        accounts.refresh_token_grant(session=session, refresh_token=token, scope=None)


def test_an_unknown_refresh_token_is_refused(session: Session) -> None:
    with pytest.raises(InvalidGrant):
        accounts.refresh_token_grant(
            session=session, refresh_token=security.new_opaque_token("mkr"), scope=None
        )


def test_refresh_of_a_deactivated_user_is_refused(session: Session) -> None:
    user = factories.member(session)
    token = _login(session, user)
    user.is_active = False
    session.add(user)
    session.flush()
    with pytest.raises(InvalidGrant, match="disabled"):
        accounts.refresh_token_grant(session=session, refresh_token=token, scope=None)


def test_refresh_cannot_widen_the_logins_scopes(session: Session) -> None:
    user = factories.member(session)
    issued = accounts.password_grant(
        session=session, email=user.email, password=PASSWORD, scope="licenses"
    )
    with pytest.raises(OAuthError) as refused:
        accounts.refresh_token_grant(
            session=session, refresh_token=issued.refresh_token or "", scope="licenses patents"
        )
    assert refused.value.code == "invalid_scope"


def test_refresh_drops_scopes_the_organization_lost(session: Session) -> None:
    user = factories.member(session, verified=False)
    token = _login(session, user)
    accounts.decide_verification(
        session=session, organization=_org_of(session, user), approve=False, reason="not real"
    )
    assert (
        accounts.refresh_token_grant(session=session, refresh_token=token, scope=None).scopes
        == frozenset()
    )


# --- client credentials ----------------------------------------------------------------------


def test_client_credentials_issue_an_access_token_only(
    session: Session, api_client_of: ClientCredentials, fixed_clock: datetime
) -> None:
    bank_admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, secret = api_client_of(bank_admin)
    issued = accounts.client_credentials_grant(
        session=session, client_id=client_id, client_secret=secret, scope="encumbrances"
    )
    assert issued.refresh_token is None
    assert issued.scopes == {"encumbrances"}
    claims = security.decode_access_token(issued.access_token)
    assert claims.subject == f"client:{client_id}"
    assert claims.organization_id == bank_admin.organization_id
    client = accounts.get_api_client(
        session=session,
        organization_id=bank_admin.organization_id,
        api_client_id=_client_pk(session, client_id),
    )
    assert client.last_used_at == fixed_clock


def _client_pk(session: Session, client_id: str) -> int:
    pk = session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
    assert pk is not None
    return pk


def test_client_credentials_refuse_a_wrong_secret(
    session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    with pytest.raises(InvalidClient):
        accounts.client_credentials_grant(
            session=session, client_id=client_id, client_secret=secret[:-1], scope=None
        )


def test_client_credentials_refuse_a_revoked_client(
    session: Session, api_client_of: ClientCredentials
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, secret = api_client_of(admin)
    client = accounts.get_api_client(
        session=session,
        organization_id=admin.organization_id,
        api_client_id=_client_pk(session, client_id),
    )
    accounts.revoke_api_client(session=session, client=client)
    with pytest.raises(InvalidClient):
        accounts.client_credentials_grant(
            session=session, client_id=client_id, client_secret=secret, scope=None
        )


# --- API clients -----------------------------------------------------------------------------


def test_an_api_client_stores_only_a_hash_of_its_secret(session: Session) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client, secret = accounts.create_api_client(session=session, creator=admin, name="risk")
    assert secret not in client.secret_hash
    assert security.verify_secret(client.secret_hash, secret)
    assert client.organization_id == admin.organization_id
    assert client.created_by_user_id == admin.id


def test_another_organizations_api_client_is_not_found(
    session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, _ = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    stranger = factories.member(session, kind=OrganizationKind.bank)
    with pytest.raises(ApiClientNotFound):
        accounts.get_api_client(
            session=session,
            organization_id=stranger.organization_id,
            api_client_id=_client_pk(session, client_id),
        )


def test_revoking_twice_keeps_the_first_revocation_time(
    session: Session,
    api_client_of: ClientCredentials,
    fixed_clock: datetime,
    set_today: SetToday,
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client = accounts.get_api_client(
        session=session,
        organization_id=admin.organization_id,
        api_client_id=_client_pk(session, api_client_of(admin)[0]),
    )
    accounts.revoke_api_client(session=session, client=client)
    set_today(date(2026, 8, 1))
    assert accounts.revoke_api_client(session=session, client=client).revoked_at == fixed_clock


# --- logout ----------------------------------------------------------------------------------


def test_logout_revokes_the_access_token_and_its_login(session: Session) -> None:
    user = factories.member(session)
    refresh = _login(session, user)
    family = _stored(session, refresh).family_id
    accounts.logout(
        session=session,
        jti="a" * 32,
        expires_at=datetime.now(UTC),
        user=user,
        refresh_token=refresh,
    )
    assert accounts.is_access_token_revoked(session=session, jti="a" * 32)
    assert all(revoked is not None for revoked in _family_revoked_at(session, family))


def test_logout_ignores_another_users_refresh_token(session: Session) -> None:
    user, other = factories.member(session), factories.member(session)
    others_refresh = _login(session, other)
    accounts.logout(
        session=session,
        jti="b" * 32,
        expires_at=datetime.now(UTC),
        user=user,
        refresh_token=others_refresh,
    )
    assert _family_revoked_at(session, _stored(session, others_refresh).family_id) == [None]


def test_logging_out_twice_is_harmless(session: Session) -> None:
    for _ in range(2):
        accounts.logout(
            session=session,
            jti="c" * 32,
            expires_at=datetime.now(UTC),
            user=None,
            refresh_token=None,
        )
    assert (
        session.scalar(
            select(sa.func.count())
            .select_from(RevokedAccessToken)
            .where(col(RevokedAccessToken.jti) == "c" * 32)
        )
        == 1
    )
