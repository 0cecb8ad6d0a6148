"""Certificate signing keys in the shared database: encrypted, the same on every host, a key
made by another host found at once."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from marketplace import signing, signing_keys
from marketplace.config import get_settings
from marketplace.licensing import certificates

TYP = "test+jwt"


@pytest.fixture
def keys(engine: Engine) -> Iterator[Engine]:
    """The keys table as the test found it, again afterwards."""
    table = signing_keys.SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        before = {row.kid for row in connection.execute(sa.select(table.c.kid))}
    signing_keys.forget()
    yield engine
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.kid.not_in(before)))
    signing_keys.forget()
    get_settings.cache_clear()


def test_private_halves_are_stored_encrypted(keys: Engine) -> None:
    kid = signing_keys.rotate(keys)
    [record] = [r for r in signing_keys.records(keys) if r.kid == kid]
    assert "PRIVATE KEY" not in record.private_key_encrypted
    key_set = signing_keys.load(create=False, engine=keys)
    assert key_set.active_kid == kid
    assert "PRIVATE KEY" in key_set.active.private_pem


def test_a_host_with_another_encryption_key_cannot_use_the_keys(
    keys: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    signing_keys.rotate(keys)
    monkeypatch.setenv("MARKETPLACE_KEY_ENCRYPTION_KEY", "not the key they were stored under")
    get_settings.cache_clear()
    signing_keys.forget()
    with pytest.raises(signing.SigningKeysUnavailable, match="cannot be decrypted"):
        signing_keys.load(create=False, engine=keys)


def test_a_statement_signed_with_a_key_another_host_just_made_verifies_here(
    keys: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETPLACE_SIGNING_KEYS_CACHE_SECONDS", "3600")
    get_settings.cache_clear()
    stale = signing_keys.load(create=False, engine=keys)
    other_kid = signing_keys.rotate(keys)  # on another host
    elsewhere = signing_keys.load(create=False, engine=keys)
    token = signing.sign_statement({"n": 1}, typ=TYP, key_set=elsewhere)
    # This host still holds its copy from before the rotation (two seconds old, trusted for an
    # hour); an unknown kid is looked up again at most once a second.
    monkeypatch.setattr(signing_keys, "_cached", (time.monotonic() - 2, stale))
    assert other_kid not in stale.keys

    found = certificates.key_set(other_kid)

    assert signing.verify_statement(token, typ=TYP, key_set=found).kid == other_kid


def test_the_first_use_moves_the_keys_of_the_former_directory_in(
    tmp_path: Path, keys: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = signing_keys.SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with keys.begin() as connection:
        saved = connection.execute(sa.select(table)).all()
        connection.execute(table.delete())
    try:
        directory = tmp_path / "keys"
        old_kid = signing.rotate(directory)
        token = signing.sign_statement(
            {"n": 1}, typ=TYP, key_set=signing.load_key_set(directory, create=False)
        )
        monkeypatch.setenv("MARKETPLACE_SIGNING_KEYS_DIR", str(directory))
        get_settings.cache_clear()

        key_set = signing_keys.load(create=False, engine=keys)

        assert key_set.active_kid == old_kid
        assert signing.verify_statement(token, typ=TYP, key_set=key_set).kid == old_kid
    finally:
        with keys.begin() as connection:
            connection.execute(table.delete())
            if saved:
                connection.execute(table.insert(), [dict(row._mapping) for row in saved])
