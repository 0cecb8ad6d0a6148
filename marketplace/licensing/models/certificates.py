"""Signed license certificates and their verification."""

from datetime import date
from typing import Any

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from marketplace.licensing.models.licenses import LicenseStatus


class CertificateParty(SQLModel):
    id: int
    name: str
    country: str | None = None
    credit_code: str | None = Field(
        default=None, description="Unified social credit code (Chinese organizations)."
    )


class CertificatePatent(SQLModel):
    application_number: str
    title: str


class CertificateRecordation(SQLModel):
    record_number: str
    record_date: date


class CertificatePayment(SQLModel):
    """The upfront payment the license rests on (Patent Law art. 51: notice and payment)."""

    payment_id: int
    obligation_id: int
    paid_on: date
    confirmed_on: date = Field(
        description="The day the licensor confirmed it: the license's effective date."
    )
    amount: str = Field(description="The upfront fee, as a decimal string.")
    currency: str


class CertificateClaims(SQLModel):
    """What a certificate states. It is true as of ``iat``: a verifier that needs today's status
    asks ``POST /api/v1/certificates/verify`` or fetches a fresh certificate."""

    iss: str
    iat: int = Field(description="Issued at (seconds since the epoch, UTC).")
    jti: str = Field(description="The certificate's own id.")
    license_id: int
    license_number: str
    licensor: CertificateParty
    licensee: CertificateParty
    patents: list[CertificatePatent]
    terms_sha256: str = Field(
        description="SHA-256 of the frozen terms (canonical JSON: sorted keys, no whitespace)."
    )
    effective_date: date
    expires_on: date
    status: LicenseStatus = Field(
        description="The license's status when the certificate was issued."
    )
    recordation: CertificateRecordation | None = None
    payment: CertificatePayment | None = Field(
        default=None,
        description="The confirmed upfront payment the license rests on; null when its method "
        "asks for nothing up front (it took effect on notice).",
    )


class LicenseCertificate(SQLModel):
    jws: str = Field(
        description="Compact JWS (ES256; `kid` and `typ: license-certificate+jwt` in the header) "
        "over the claims, verifiable with the keys at `/.well-known/jwks.json`."
    )
    claims: CertificateClaims


CERTIFICATE_MAX_CHARS = 262_144


class CertificateVerification(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    jws: str = Field(
        min_length=1,
        # The largest certificate (50 patents with 500-character Chinese titles) is ~110 kB.
        max_length=CERTIFICATE_MAX_CHARS,
        description="A certificate's compact JWS, as `GET /api/v1/licenses/{id}/certificate` "
        "returned it.",
        schema_extra={"examples": ["eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9.eyJ...fQ.MEUCIQ..."]},
    )


class CertificateVerdict(SQLModel):
    valid: bool = Field(description="The signature holds under a key this service published.")
    reason: str | None = Field(
        default=None,
        description="Why not valid: `malformed`, `unsupported_algorithm`, `wrong_type`, "
        "`unknown_key`, `bad_signature`.",
    )
    kid: str | None = None
    claims: dict[str, Any] | None = None
    license_status_now: LicenseStatus | None = Field(
        default=None, description="The license's status today (null if it no longer exists)."
    )
    status_changed: bool | None = Field(
        default=None,
        description="True when the status today differs from the one certified: a stale "
        "certificate, e.g. an `active` one of a license since terminated.",
    )
