from datetime import datetime
from enum import StrEnum
from typing import ClassVar

import sqlalchemy as sa
from pydantic import ConfigDict, EmailStr, ValidationInfo, field_validator, model_validator
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.accounts.credit_code import normalize_credit_code
from marketplace.audit.spec import Audited
from marketplace.codes import CountryCode
from marketplace.db import UTCDateTime, enum_type


class OrganizationKind(StrEnum):
    university = "university"
    research_institute = "research_institute"
    enterprise = "enterprise"
    bank = "bank"
    platform = "platform"


LICENSOR_KINDS = frozenset(
    {OrganizationKind.university, OrganizationKind.research_institute, OrganizationKind.enterprise}
)


class Verification(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"


class UserRole(StrEnum):
    admin = "admin"
    member = "member"


class OrganizationBase(SQLModel):
    name: str = Field(
        min_length=2, max_length=200, schema_extra={"examples": ["Zhejiang University"]}
    )
    kind: OrganizationKind = Field(sa_type=enum_type(OrganizationKind, "organization_kind"))
    country: CountryCode = Field(
        default="CN",
        description="ISO 3166-1 alpha-2 country code.",
        sa_type=sa.String(2),
    )
    region: str | None = Field(
        default=None,
        max_length=100,
        description="Province or region.",
        schema_extra={"examples": ["Zhejiang"]},
    )
    credit_code: str | None = Field(
        default=None,
        max_length=32,
        description="Unified social credit code (required for Chinese organizations).",
        schema_extra={"examples": ["91350100M000100Y43"]},
        sa_type=sa.String(18),
    )


class Organization(OrganizationBase, table=True):
    __tablename__ = "organization"
    __audited__: ClassVar[Audited] = Audited(parties=("id",), state="verification")

    id: int | None = Field(default=None, primary_key=True)
    credit_code: str | None = Field(default=None, unique=True, sa_type=sa.String(18))
    verification: Verification = Field(
        default=Verification.pending, sa_type=enum_type(Verification, "verification")
    )
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class OrganizationCreate(OrganizationBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    # A field validator (country is declared, and so validated, before credit_code), so that a
    # bad code is reported at body.organization.credit_code, where a client can show it.
    @field_validator("credit_code")
    @classmethod
    def _valid_credit_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        country = info.data.get("country")
        if country is None:
            # The country is invalid and already reported; the code cannot be judged without it.
            return value
        if country != "CN":
            raise ValueError("credit_code applies to Chinese organizations only")
        return normalize_credit_code(value)

    @model_validator(mode="after")
    def _chinese_orgs_need_credit_code(self) -> "OrganizationCreate":
        if self.country == "CN" and self.credit_code is None:
            raise ValueError("credit_code is required for organizations in China")
        return self


class OrganizationPublic(OrganizationBase):
    # Plain text: a record is shown as stored, even one from before codes were checked.
    country: str
    id: int
    verification: Verification
    verified_at: datetime | None
    # Only rejected organizations have one, and only they and platform admins can see them.
    rejection_reason: str | None = None
    created_at: datetime


class OrganizationDecision(SQLModel):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "The credit code does not match the business license submitted."}
            ]
        },
    )

    reason: str = Field(min_length=3, max_length=1000)


class UserBase(SQLModel):
    email: EmailStr = Field(max_length=254, sa_type=sa.String(254))
    full_name: str = Field(min_length=1, max_length=200)


class User(UserBase, table=True):
    __tablename__ = "user_account"
    __audited__: ClassVar[Audited] = Audited(
        parties=("organization_id",), exclude=("last_login_at",)
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=254)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    role: UserRole = Field(default=UserRole.member, sa_type=enum_type(UserRole, "user_role"))
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserCreate(UserBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    password: str = Field(
        min_length=1, max_length=256, schema_extra={"examples": ["correct horse battery"]}
    )

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()


class MemberCreate(UserCreate):
    """A colleague an organization admin adds; members act for the organization, admins also
    manage its users and API clients."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "wang.fang@zju.example.cn",
                    "full_name": "Wang Fang",
                    "password": "a long passphrase of hers",
                    "role": "member",
                }
            ]
        }
    )

    role: UserRole = UserRole.member


class UserPublic(UserBase):
    id: int
    organization_id: int
    role: UserRole
    is_active: bool
    created_at: datetime


class SignupRequest(SQLModel):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "organization": {
                        "name": "Zhejiang University",
                        "kind": "university",
                        "country": "CN",
                        "region": "Zhejiang",
                        "credit_code": "91350100M000100Y43",
                    },
                    "user": {
                        "email": "tech-transfer@zju.example.cn",
                        "full_name": "Li Wei",
                        "password": "correct horse battery staple",
                    },
                }
            ]
        },
    )

    organization: OrganizationCreate
    user: UserCreate


class SignupResponse(SQLModel):
    organization: OrganizationPublic
    user: UserPublic


class ApiClient(SQLModel, table=True):
    """Machine access for an organization (banks), authenticated with client credentials."""

    __tablename__ = "api_client"
    # Creation, revocation and each secret reset are in the audit trail (never the secret).
    __audited__: ClassVar[Audited] = Audited(
        parties=("organization_id",), exclude=("last_used_at",)
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(unique=True, max_length=64)
    secret_hash: str = Field(max_length=255)
    name: str = Field(max_length=200)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    created_by_user_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When an operator last replaced the secret (`marketplace reset-client-secret`).
    credentials_reset_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiClientCreate(SQLModel):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid", json_schema_extra={"examples": [{"name": "loan-origination"}]}
    )

    name: str = Field(min_length=1, max_length=200, schema_extra={"examples": ["loan-origination"]})


class ApiClientPublic(SQLModel):
    id: int
    client_id: str
    name: str
    organization_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiClientCreated(ApiClientPublic):
    client_secret: str = Field(description="Shown once; only its hash is stored.")


class RefreshToken(SQLModel, table=True):
    """Opaque single-use refresh tokens. A family is one login; reusing a spent one revokes it."""

    __tablename__ = "refresh_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    family_id: str = Field(index=True, max_length=36)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    scope: str = Field(max_length=500)
    issued_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RevokedAccessToken(SQLModel, table=True):
    """Access tokens ended by logout before they expire; rows can be purged after ``expires_at``."""

    __tablename__ = "revoked_access_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class RevokedLogin(SQLModel, table=True):
    """Logins ended before their access tokens expire (a reused refresh token, a logout with the
    refresh token): every access token naming the login is refused. Rows can be purged after
    ``expires_at``, when no access token issued before the revocation is still valid."""

    __tablename__ = "revoked_login"

    login_id: str = Field(primary_key=True, max_length=36)
    revoked_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class AttemptWindow(SQLModel, table=True):
    """One key's count of attempts in its current minute, shared by every process that signs
    users in (see ``accounts.throttle.DatabaseWindows``)."""

    __tablename__ = "attempt_window"

    key: str = Field(primary_key=True, max_length=400)
    # Seconds since the epoch, as the limiter's clock gives them.
    started_at: float = Field(sa_type=sa.Float(precision=53), index=True)
    count: int


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str | None = None
    scope: str


class MeResponse(SQLModel):
    user: UserPublic | None
    api_client: ApiClientPublic | None
    organization: OrganizationPublic
    scopes: list[str]
