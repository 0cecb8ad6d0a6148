"""License certificates: a signed statement (ES256 JWS) of who licenses what to whom, on which
terms, and the license's status when the certificate was issued.

A certificate is true as of its ``iat``. Verifiers that care about today (a bank, a court, a
customer) check its age, or ask ``POST /api/v1/certificates/verify``, which also reports the
license's status now and flags a certificate whose status has since changed.

Parties and patents are taken from the terms frozen at acceptance, the same snapshot that
``terms_sha256`` covers, so a later rename of an organization never changes what was licensed.
"""

import uuid
from datetime import date
from typing import Any

from sqlmodel import Session

from marketplace import clock, signing, signing_keys
from marketplace.config import Environment, get_settings
from marketplace.licensing.errors import LicenseNotInForce, SigningKeysMissing
from marketplace.licensing.models.certificates import (
    CertificateClaims,
    CertificateParty,
    CertificatePatent,
    CertificatePayment,
    CertificateRecordation,
    CertificateVerdict,
    LicenseCertificate,
)
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.params import MAX_ID

CERTIFICATE_TYPE = "license-certificate+jwt"


def key_set(for_kid: str | None = None) -> signing.KeySet:
    """The statement keys, shared by every host; outside production a first key is made on
    first use. ``for_kid``: the key a statement names (one another host may just have made)."""
    settings = get_settings()
    try:
        return signing_keys.load(
            create=settings.environment is not Environment.production, for_kid=for_kid
        )
    except signing.SigningKeysUnavailable as exc:
        raise SigningKeysMissing(f"License certificates cannot be signed: {exc}.") from exc


def _named_kid(token: str) -> str | None:
    try:
        kid = signing.unverified_header(token).get("kid")
    except signing.SignatureError:
        return None
    return kid if isinstance(kid, str) else None


def jwks() -> dict[str, list[dict[str, str]]]:
    return key_set().jwks()


def status_on(license_: License, today: date) -> LicenseStatus:
    """The status as of ``today``: an active license past its term is expired even before the
    daily sweep has marked it."""
    if license_.status is LicenseStatus.active and license_.expires_on < today:
        return LicenseStatus.expired
    return license_.status


def _party(snapshot: dict[str, Any]) -> CertificateParty:
    return CertificateParty(
        id=snapshot["id"],
        name=snapshot["name"],
        country=snapshot.get("country"),
        credit_code=snapshot.get("credit_code"),
    )


def certificate_claims(license_: License, *, jti: str) -> CertificateClaims:
    assert license_.id is not None
    assert license_.license_number is not None
    terms = license_.terms
    recordation = None
    if license_.record_number is not None and license_.record_date is not None:
        recordation = CertificateRecordation(
            record_number=license_.record_number, record_date=license_.record_date
        )
    payment = terms.get("payment")
    return CertificateClaims(
        iss=get_settings().certificate_issuer,
        iat=int(clock.now().timestamp()),
        jti=jti,
        license_id=license_.id,
        license_number=license_.license_number,
        licensor=_party(terms["licensor"]),
        licensee=_party(terms["licensee"]),
        patents=[
            CertificatePatent(
                application_number=patent["application_number"], title=patent["title"]
            )
            for patent in terms["patents"]
        ],
        terms_sha256=license_.terms_sha256,
        effective_date=license_.effective_date,
        expires_on=license_.expires_on,
        status=status_on(license_, clock.today()),
        recordation=recordation,
        payment=None if payment is None else CertificatePayment.model_validate(payment),
    )


def issue_certificate(*, license_: License) -> LicenseCertificate:
    """A freshly signed certificate of the license, with the active key. The caller must be a
    party (see ``service.get_license``). A license waiting for its upfront payment, or lapsed
    without it, never took effect: there is nothing to certify."""
    if license_.status in (LicenseStatus.pending_payment, LicenseStatus.lapsed_unpaid):
        raise LicenseNotInForce(
            f"License {license_.id} is {license_.status}: it has not taken effect.",
            license_status=str(license_.status),
        )
    claims = certificate_claims(license_, jti=uuid.uuid4().hex)
    token = signing.sign_statement(
        claims.model_dump(mode="json"), typ=CERTIFICATE_TYPE, key_set=key_set()
    )
    return LicenseCertificate(jws=token, claims=claims)


def verify_certificate(*, session: Session, token: str) -> CertificateVerdict:
    """Whether ``token`` is a certificate this service signed (under any key it published, the
    retired ones included), and how the license stands today. Never raises for a bad token."""
    try:
        verified = signing.verify_statement(
            token, typ=CERTIFICATE_TYPE, key_set=key_set(_named_kid(token))
        )
    except signing.StatementRejected as exc:
        return CertificateVerdict(valid=False, reason=exc.reason)
    claims = verified.claims
    license_id = claims.get("license_id")
    license_ = None
    if (
        isinstance(license_id, int)
        and not isinstance(license_id, bool)
        and 1 <= license_id <= MAX_ID
    ):
        license_ = session.get(License, license_id)
    now = status_on(license_, clock.today()) if license_ is not None else None
    return CertificateVerdict(
        valid=True,
        kid=verified.kid,
        claims=claims,
        license_status_now=now,
        status_changed=None if now is None else str(now) != claims.get("status"),
    )
