"""Signatures: the only module that imports ``jose``.

Two kinds of signed text leave the service:

* access tokens (HS256 with the service's secret; ``accounts.security`` builds and checks them
  through ``encode_jwt`` / ``decode_jwt`` below), readable only by the service itself;
* signed statements such as license certificates (ES256), which anyone can verify offline with
  the public keys the service publishes at ``/.well-known/jwks.json``.

Statement keys form a key set, kept in the database by ``marketplace.signing_keys`` (every host
shares it). This module also reads the former design, a directory (``MARKETPLACE_SIGNING_KEYS_DIR``)
with one PEM file per key named ``<kid>.pem`` and a file ``active`` naming the key that signs, from
which keys are moved into the database. Rotation adds a key and makes it active; older keys stay in
the set and in the JWKS, so what they signed still verifies.
"""

import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import JWTError, jwk, jws, jwt
from jose.exceptions import JWKError, JWSError

from marketplace.canonical import canonical_json

STATEMENT_ALGORITHM = "ES256"
ACTIVE_FILE = "active"
KID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class SignatureError(Exception):
    """A token or statement that cannot be decoded or whose signature does not hold."""


class SigningKeysUnavailable(Exception):
    """No usable key set: none was created (production), or a file in it is not a P-256 key."""


# Access tokens (a shared secret) -------------------------------------------------------------


def encode_jwt(
    claims: Mapping[str, Any], secret: str, *, algorithm: str, headers: dict[str, Any]
) -> str:
    return jwt.encode(dict(claims), secret, algorithm=algorithm, headers=headers)


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return dict(jws.get_unverified_header(token))
    except (JWTError, JWSError) as exc:
        raise SignatureError("malformed token") from exc


def decode_jwt(
    token: str,
    secret: str,
    *,
    algorithms: list[str],
    audience: str,
    issuer: str,
    required: tuple[str, ...],
) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            options={f"require_{claim}": True for claim in required},
        )
    except JWTError as exc:
        raise SignatureError(str(exc)) from exc


# The statement key set -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_pem: str
    public_jwk: dict[str, str]

    @property
    def created_at(self) -> datetime | None:
        """Kids made here start with their UTC creation time (``20261125T101500Z-…``)."""
        try:
            return datetime.strptime(self.kid[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class KeySet:
    active_kid: str
    keys: Mapping[str, SigningKey]
    # Where the set was read from, for a key directory; None for the database.
    directory: Path | None = None

    @property
    def active(self) -> SigningKey:
        return self.keys[self.active_kid]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every key's public half (retired keys too: what they signed must still verify)."""
        return {"keys": [self.keys[kid].public_jwk for kid in sorted(self.keys)]}


def public_jwk(kid: str, private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    fields = {
        name: str(value)
        for name, value in jwk.construct(public_pem, STATEMENT_ALGORITHM).to_dict().items()
    }
    return {
        "kty": fields["kty"],
        "crv": fields["crv"],
        "x": fields["x"],
        "y": fields["y"],
        "kid": kid,
        "use": "sig",
        "alg": STATEMENT_ALGORITHM,
    }


def load_private_key(pem: bytes, *, name: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from its unencrypted PEM; ``name`` says which, in errors."""
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeysUnavailable(f"{name} is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise SigningKeysUnavailable(f"{name} is not a P-256 (ES256) key")
    return private_key


def signing_key(kid: str, pem: bytes) -> SigningKey:
    private_key = load_private_key(pem, name=kid)
    normalized = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningKey(kid=kid, private_pem=normalized, public_jwk=public_jwk(kid, private_key))


def _load_key(path: Path) -> SigningKey:
    kid = path.name.removesuffix(".pem")
    try:
        return signing_key(kid, path.read_bytes())
    except SigningKeysUnavailable as exc:
        raise SigningKeysUnavailable(str(exc).replace(kid, path.name, 1)) from exc


@lru_cache(maxsize=8)
def _load_key_set(directory: Path, _stamp: tuple[int, int, int]) -> KeySet:
    active_path = directory / ACTIVE_FILE
    active_kid = active_path.read_text(encoding="utf-8").strip()
    keys = {
        key.kid: key
        for key in (
            _load_key(path)
            for path in sorted(directory.glob("*.pem"))
            if KID_PATTERN.fullmatch(path.name.removesuffix(".pem"))
        )
    }
    if active_kid not in keys:
        raise SigningKeysUnavailable(f"the active key {active_kid!r} has no PEM file")
    return KeySet(active_kid=active_kid, keys=keys, directory=directory)


def _stamp(directory: Path) -> tuple[int, int, int] | None:
    """What changes when a key is added or the active one switched (``rotate`` replaces the
    ``active`` file, so its inode changes too); None: no key set yet."""
    try:
        active = (directory / ACTIVE_FILE).stat()
        return directory.stat().st_mtime_ns, active.st_ino, active.st_mtime_ns
    except FileNotFoundError:
        return None


_generating = threading.Lock()


def load_key_set(directory: Path, *, create: bool) -> KeySet:
    """The key set in ``directory``, loaded once per process and again after a rotation (two
    ``stat`` calls tell). With ``create``, a missing set starts with a fresh key."""
    directory = directory.resolve()
    stamp = _stamp(directory)
    if stamp is None:
        if not create:
            raise SigningKeysUnavailable(
                "no signing key: create one with `marketplace keys rotate`"
            )
        with _generating:
            if _stamp(directory) is None:
                rotate(directory)
        stamp = _stamp(directory)
        assert stamp is not None
    return _load_key_set(directory, stamp)


def reload_key_sets() -> None:
    """Forget the loaded key sets; the next use reads the directory again."""
    _load_key_set.cache_clear()


def new_kid() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def new_private_key_pem() -> bytes:
    """A new P-256 private key, PKCS#8 PEM, unencrypted."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def rotate(directory: Path) -> str:
    """Add a new P-256 key and make it the active one; returns its kid. Old keys are kept."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    kid = new_kid()
    pem = new_private_key_pem()
    descriptor = os.open(directory / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(pem)
    # Switch atomically: a reader sees the old active kid or the new one, never half a file.
    pending = directory / f".{ACTIVE_FILE}.{kid}"
    pending.write_text(kid + "\n", encoding="utf-8")
    os.replace(pending, directory / ACTIVE_FILE)
    reload_key_sets()
    return kid


# Signed statements (ES256) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    kid: str
    claims: dict[str, Any]


class StatementRejected(Exception):
    """Why a statement does not verify, as a stable reason code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def sign_statement(claims: Mapping[str, Any], *, typ: str, key_set: KeySet) -> str:
    """A compact JWS of ``claims`` with the active key; ``kid`` and ``typ`` in its header."""
    key = key_set.active
    return jws.sign(
        canonical_json(dict(claims)),
        key.private_pem,
        headers={"kid": key.kid, "typ": typ},
        algorithm=STATEMENT_ALGORITHM,
    )


def verify_statement(token: str, *, typ: str, key_set: KeySet) -> VerifiedStatement:
    """Check a statement against the key set: the algorithm is fixed (ES256, whatever the
    header claims), the key is looked up by ``kid``, and the payload must be a JSON object."""
    try:
        header = jws.get_unverified_header(token)
    except (JWSError, JWTError, JWKError, ValueError, TypeError) as exc:
        raise StatementRejected("malformed", "not a compact JWS") from exc
    if header.get("alg") != STATEMENT_ALGORITHM:
        raise StatementRejected("unsupported_algorithm", f"only {STATEMENT_ALGORITHM} is accepted")
    if header.get("typ") != typ:
        raise StatementRejected("wrong_type", f"the header's typ is not {typ!r}")
    kid = header.get("kid")
    key = key_set.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise StatementRejected("unknown_key", "signed with a key this service never published")
    try:
        payload = jws.verify(token, key.public_jwk, algorithms=[STATEMENT_ALGORITHM])
    except (JWSError, JWKError, ValueError, TypeError) as exc:
        raise StatementRejected("bad_signature", "the signature does not match") from exc
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatementRejected("malformed", "the payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise StatementRejected("malformed", "the payload is not a JSON object")
    return VerifiedStatement(kid=key.kid, claims=claims)
