"""The certificate signing keys, kept in the shared database so that every host signs with the
same active key and verifies what any other host signed.

Each key's private half is stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under a key
from the environment, ``MARKETPLACE_KEY_ENCRYPTION_KEY``, or, when that is not set, a key
derived from the service secret (HKDF-SHA256), which every host shares already. A database dump
alone therefore signs nothing.

The active key is the one activated last; rotation adds a key and activates it, older keys stay
published. A process keeps the key set for ``signing_keys_cache_seconds`` and reads it again at
once when asked for a key id it does not know (a key another host has just made).
"""

import base64
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from marketplace import signing
from marketplace.config import Settings, get_settings
from marketplace.db import JSONType, UTCDateTime, get_engine, get_read_engine


class SigningKeyRecord(SQLModel, table=True):
    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    algorithm: str = Field(max_length=16)
    public_jwk: dict[str, Any] = Field(sa_type=JSONType)
    # Fernet token of the PKCS#8 PEM.
    private_key_encrypted: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    activated_at: datetime = Field(sa_type=UTCDateTime, index=True)


def _fernet(settings: Settings) -> Fernet:
    if settings.key_encryption_key:
        secret = settings.key_encryption_key.encode()
    else:
        secret = settings.signing_secret().encode()
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"marketplace signing keys"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def _record(
    kid: str, pem: bytes, *, created_at: datetime, activated_at: datetime
) -> dict[str, Any]:
    key = signing.load_private_key(pem, name=kid)
    return {
        "kid": kid,
        "algorithm": signing.STATEMENT_ALGORITHM,
        "public_jwk": signing.public_jwk(kid, key),
        "private_key_encrypted": _fernet(get_settings()).encrypt(pem).decode(),
        "created_at": created_at,
        "activated_at": activated_at,
    }


_lock = threading.RLock()
_cached: tuple[float, signing.KeySet] | None = None


def forget() -> None:
    """Drop this process's copy; the next use reads the database."""
    global _cached
    with _lock:
        _cached = None


def rotate(engine: Engine | None = None) -> str:
    """Add a new P-256 key and make it the active one; returns its kid. Old keys are kept."""
    engine = engine or get_engine()
    kid = signing.new_kid()
    pem = signing.new_private_key_pem()
    now = datetime.now(UTC)
    table: sa.Table = SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            table.insert().values(_record(kid, pem, created_at=now, activated_at=now))
        )
    forget()
    return kid


def import_directory(directory: Path, engine: Engine | None = None) -> list[str]:
    """Moves the keys of a key directory (the former design) into the database, keeping their
    kids, so that what they signed still verifies; the directory's active key becomes active
    unless the database already has keys. Returns the kids added; running it again adds none."""
    engine = engine or get_engine()
    try:
        old = signing.load_key_set(directory, create=False)
    except signing.SigningKeysUnavailable:
        return []
    table: sa.Table = SigningKeyRecord.__table__  # type: ignore[attr-defined]
    added: list[str] = []
    with engine.begin() as connection:
        known = set(connection.scalars(sa.select(table.c.kid)))
        had_keys = bool(known)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        for kid in sorted(old.keys):
            if kid in known:
                continue
            key = old.keys[kid]
            created = key.created_at or epoch
            active = kid == old.active_kid and not had_keys
            activated = datetime.now(UTC) if active else created
            connection.execute(
                table.insert().values(
                    _record(
                        kid, key.private_pem.encode(), created_at=created, activated_at=activated
                    )
                )
            )
            added.append(kid)
    forget()
    return added


def _read(engine: Engine) -> signing.KeySet | None:
    table: sa.Table = SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.kid, table.c.private_key_encrypted, table.c.activated_at)
        ).all()
    if not rows:
        return None
    fernet = _fernet(get_settings())
    keys: dict[str, signing.SigningKey] = {}
    for kid, encrypted, _ in rows:
        try:
            pem = fernet.decrypt(encrypted.encode())
        except InvalidToken as exc:
            raise signing.SigningKeysUnavailable(
                f"key {kid} cannot be decrypted: MARKETPLACE_KEY_ENCRYPTION_KEY (or the service "
                "secret it defaults to) is not the one it was stored under"
            ) from exc
        keys[kid] = signing.signing_key(kid, pem)
    active_kid = max(rows, key=lambda row: (row[2], row[0]))[0]
    return signing.KeySet(active_kid=active_kid, keys=keys)


def load(
    *, create: bool, for_kid: str | None = None, engine: Engine | None = None
) -> signing.KeySet:
    """The key set, from this process's copy while it is fresh. ``for_kid``: a key id about to
    be looked up; an unknown one reads the database again. With no key stored, the keys of the
    configured directory are moved in; failing those, ``create`` makes the first key."""
    global _cached
    settings = get_settings()
    cached = _cached
    if cached is not None:
        age = time.monotonic() - cached[0]
        fresh = age < settings.signing_keys_cache_seconds
        # An unknown kid reads again, but at most once a second: statements naming made-up
        # kids must not turn into a query each.
        if fresh and (for_kid is None or for_kid in cached[1].keys or age < 1.0):
            return cached[1]
    # Reads take no write lock (SQLite's write engine begins IMMEDIATE).
    key_set = _read(engine or get_read_engine())
    if key_set is None:
        engine = engine or get_engine()
        with _lock:
            if not import_directory(settings.signing_keys_dir, engine) and _read(engine) is None:
                if not create:
                    raise signing.SigningKeysUnavailable(
                        "no signing key: create one with `marketplace keys rotate`"
                    )
                rotate(engine)
        key_set = _read(engine)
        assert key_set is not None
    _cached = (time.monotonic(), key_set)
    return key_set


def records(engine: Engine | None = None) -> list[SigningKeyRecord]:
    """Every stored key, oldest first, for listing (private halves stay encrypted)."""
    table: sa.Table = SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.created_at, table.c.kid))
        return [SigningKeyRecord.model_validate(dict(row._mapping)) for row in rows]
