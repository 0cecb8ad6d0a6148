"""Tokens and secret hashing. JWTs are encoded and decoded through ``marketplace.signing``, the
only module that imports ``jose``."""

import hashlib
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from marketplace import signing
from marketplace.config import Settings, get_settings

ACCESS_TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
# Decoding accepts only this list: a token naming any other algorithm (``none``, RS256 with a
# public key passed off as an HMAC secret) is refused before its signature is looked at.
ALLOWED_ALGORITHMS = [ACCESS_TOKEN_ALGORITHM]
REQUIRED_CLAIMS = ("sub", "org", "scope", "iss", "aud", "exp", "iat", "jti")


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    organization_id: int
    scopes: frozenset[str]
    jti: str
    expires_at: datetime
    # The login (refresh-token family) a user's token belongs to; none for API clients.
    login_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int


@lru_cache
def _signing_keys(current_secret: str) -> dict[str, str]:
    """Key id -> secret. Keyed by id so that a rotated-in key can verify alongside the old one."""
    return {_key_id(current_secret): current_secret}


def _key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _current_key(settings: Settings) -> tuple[str, str]:
    secret = settings.signing_secret()
    return _key_id(secret), secret


def create_access_token(
    *,
    subject: str,
    organization_id: int,
    scopes: frozenset[str],
    login_id: str | None = None,
    settings: Settings | None = None,
) -> IssuedAccessToken:
    settings = settings or get_settings()
    # Wall-clock time, not marketplace.clock: jose checks expiry against the real clock, and token
    # lifetimes are not business dates.
    issued_at = datetime.now(UTC)
    ttl = settings.access_token_ttl_seconds
    jti = uuid.uuid4().hex
    claims = {
        "sub": subject,
        "org": organization_id,
        "scope": " ".join(sorted(scopes)),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(seconds=ttl)).timestamp()),
        "jti": jti,
    }
    if login_id is not None:
        # Checked on every request: ending a login ends its access tokens too.
        claims["sid"] = login_id
    kid, secret = _current_key(settings)
    token = signing.encode_jwt(
        claims, secret, algorithm=ACCESS_TOKEN_ALGORITHM, headers={"kid": kid}
    )
    return IssuedAccessToken(token=token, jti=jti, expires_in=ttl)


def access_token_is_well_formed(token: str) -> bool:
    """Signature, issuer, audience and expiry hold: enough to let a client send a large body.
    (Revocation and the account are checked by the route's dependency, with the database.)"""
    try:
        decode_access_token(token)
    except InvalidToken:
        return False
    return True


def decode_access_token(token: str, *, settings: Settings | None = None) -> AccessClaims:
    settings = settings or get_settings()
    try:
        header = signing.unverified_header(token)
    except signing.SignatureError as exc:
        raise InvalidToken("malformed token") from exc
    secret = _signing_keys(settings.signing_secret()).get(str(header.get("kid")))
    if secret is None:
        raise InvalidToken("unknown signing key")
    try:
        claims = signing.decode_jwt(
            token,
            secret,
            algorithms=ALLOWED_ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            required=("aud", "iss", "exp", "iat", "sub", "jti"),
        )
    except signing.SignatureError as exc:
        raise InvalidToken(str(exc)) from exc
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
    organization_id = claims.get("org")
    if missing or not isinstance(organization_id, int) or not isinstance(claims["scope"], str):
        raise InvalidToken("token lacks required claims")
    login_id = claims.get("sid")
    if login_id is not None and not isinstance(login_id, str):
        raise InvalidToken("malformed login claim")
    return AccessClaims(
        subject=str(claims["sub"]),
        organization_id=organization_id,
        scopes=frozenset(claims["scope"].split()),
        jti=str(claims["jti"]),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        login_id=login_id,
    )


@lru_cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def _current_hasher() -> PasswordHasher:
    settings = get_settings()
    return _hasher(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )


# Each Argon2 computation takes its memory cost (64 MiB by default) for about 0.1 s of CPU. More
# computations at once than cores gain no throughput and only multiply memory: a burst of 32
# sign-ins otherwise took the server past 1 GiB.
_hashing_slots = threading.BoundedSemaphore(os.cpu_count() or 2)


def hash_secret(secret: str) -> str:
    with _hashing_slots:
        return _current_hasher().hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    with _hashing_slots:
        try:
            return _current_hasher().verify(secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


# Verifying against this when an account does not exist keeps the response time of "unknown
# account" equal to "wrong password", so timing does not reveal which accounts exist.
@lru_cache
def dummy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(16))


def new_opaque_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def fingerprint(value: str) -> str:
    """SHA-256 hex of a high-entropy token: enough to store it without keeping it."""
    return hashlib.sha256(value.encode()).hexdigest()
