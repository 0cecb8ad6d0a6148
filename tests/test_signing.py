"""The statement key set and ES256 statements, without HTTP or a database."""

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jws

from marketplace import signing

TYP = "test-statement+jwt"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def test_a_missing_key_set_is_refused_unless_creation_is_allowed(keys_dir: Path) -> None:
    with pytest.raises(signing.SigningKeysUnavailable, match="keys rotate"):
        signing.load_key_set(keys_dir, create=False)
    assert not keys_dir.exists()

    key_set = signing.load_key_set(keys_dir, create=True)

    assert list(key_set.keys) == [key_set.active_kid]
    assert (keys_dir / signing.ACTIVE_FILE).read_text().strip() == key_set.active_kid
    pem = keys_dir / f"{key_set.active_kid}.pem"
    # A private key: readable by its owner only, and the directory too.
    assert pem.stat().st_mode & 0o777 == 0o600
    assert keys_dir.stat().st_mode & 0o777 == 0o700


def test_rotation_adds_an_active_key_and_keeps_the_old_one_published(keys_dir: Path) -> None:
    first = signing.rotate(keys_dir)
    old = signing.load_key_set(keys_dir, create=False)
    second = signing.rotate(keys_dir)

    key_set = signing.load_key_set(keys_dir, create=False)

    assert first != second
    assert old.active_kid == first
    assert key_set.active_kid == second
    assert {jwk["kid"] for jwk in key_set.jwks()["keys"]} == {first, second}


def test_the_jwks_holds_public_halves_only(keys_dir: Path) -> None:
    signing.rotate(keys_dir)
    key_set = signing.load_key_set(keys_dir, create=False)

    (jwk,) = key_set.jwks()["keys"]

    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256")
    # The coordinates are those of the key on disk.
    private = serialization.load_pem_private_key(key_set.active.private_pem.encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    numbers = private.public_key().public_numbers()
    assert int.from_bytes(unb64(jwk["x"]), "big") == numbers.x
    assert int.from_bytes(unb64(jwk["y"]), "big") == numbers.y


def test_the_key_set_is_loaded_once_and_again_after_a_rotation_elsewhere(keys_dir: Path) -> None:
    signing.rotate(keys_dir)
    loaded = signing.load_key_set(keys_dir, create=False)
    assert signing.load_key_set(keys_dir, create=False) is loaded

    # Another process rotates: a new PEM file and a replaced `active` file, no call in this one.
    other = signing.rotate(keys_dir / "elsewhere")
    os.replace(keys_dir / "elsewhere" / f"{other}.pem", keys_dir / f"{other}.pem")
    pending = keys_dir / ".active.new"
    pending.write_text(other)
    os.replace(pending, keys_dir / signing.ACTIVE_FILE)

    assert signing.load_key_set(keys_dir, create=False).active_kid == other


def test_reload_forgets_loaded_key_sets(keys_dir: Path) -> None:
    signing.rotate(keys_dir)
    loaded = signing.load_key_set(keys_dir, create=False)

    signing.reload_key_sets()

    again = signing.load_key_set(keys_dir, create=False)
    assert again is not loaded
    assert again.active_kid == loaded.active_kid


def test_a_key_that_is_not_p256_is_refused(keys_dir: Path) -> None:
    keys_dir.mkdir()
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (keys_dir / "rsa-key.pem").write_bytes(rsa_pem)
    (keys_dir / signing.ACTIVE_FILE).write_text("rsa-key\n")

    with pytest.raises(signing.SigningKeysUnavailable, match="not a P-256"):
        signing.load_key_set(keys_dir, create=False)


def test_an_active_kid_without_its_file_is_refused(keys_dir: Path) -> None:
    signing.rotate(keys_dir)
    (keys_dir / signing.ACTIVE_FILE).write_text("gone\n")

    with pytest.raises(signing.SigningKeysUnavailable, match="'gone' has no PEM file"):
        signing.load_key_set(keys_dir, create=False)


# Statements -------------------------------------------------------------------------------------


@pytest.fixture
def key_set(keys_dir: Path) -> signing.KeySet:
    signing.rotate(keys_dir)
    return signing.load_key_set(keys_dir, create=False)


def test_a_signed_statement_verifies_and_names_its_key(key_set: signing.KeySet) -> None:
    token = signing.sign_statement({"b": 1, "a": "许可"}, typ=TYP, key_set=key_set)

    header = json.loads(unb64(token.split(".")[0]))
    verified = signing.verify_statement(token, typ=TYP, key_set=key_set)

    assert header == {"alg": "ES256", "kid": key_set.active_kid, "typ": TYP}
    assert verified.kid == key_set.active_kid
    assert verified.claims == {"a": "许可", "b": 1}


def rejection(token: str, key_set: signing.KeySet, typ: str = TYP) -> str:
    with pytest.raises(signing.StatementRejected) as caught:
        signing.verify_statement(token, typ=typ, key_set=key_set)
    return caught.value.reason


def test_a_changed_payload_fails_the_signature(key_set: signing.KeySet) -> None:
    header, _payload, signature = signing.sign_statement(
        {"status": "terminated"}, typ=TYP, key_set=key_set
    ).split(".")
    forged = b64(json.dumps({"status": "active"}).encode())

    assert rejection(f"{header}.{forged}.{signature}", key_set) == "bad_signature"


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "a.b.c", "...", "e30.e30.e30.e30"])
def test_malformed_tokens_are_rejected_with_a_reason(token: str, key_set: signing.KeySet) -> None:
    assert rejection(token, key_set) == "malformed"


def test_other_algorithms_are_refused_before_any_key_is_used(key_set: signing.KeySet) -> None:
    _, payload, signature = signing.sign_statement({}, typ=TYP, key_set=key_set).split(".")
    for alg in ("none", "HS256", "RS256", "ES384"):
        header = b64(json.dumps({"alg": alg, "kid": key_set.active_kid, "typ": TYP}).encode())
        assert rejection(f"{header}.{payload}.{signature}", key_set) == "unsupported_algorithm"


def test_another_type_of_statement_is_refused(key_set: signing.KeySet) -> None:
    token = signing.sign_statement({}, typ="something-else+jwt", key_set=key_set)

    assert rejection(token, key_set) == "wrong_type"


def test_a_key_outside_the_set_is_unknown(key_set: signing.KeySet, tmp_path: Path) -> None:
    stranger = signing.load_key_set(tmp_path / "stranger", create=True)
    token = signing.sign_statement({}, typ=TYP, key_set=stranger)

    assert rejection(token, key_set) == "unknown_key"


def test_a_kid_of_ours_on_a_foreign_signature_fails(
    key_set: signing.KeySet, tmp_path: Path
) -> None:
    stranger = signing.load_key_set(tmp_path / "stranger", create=True)
    _, payload, signature = signing.sign_statement({}, typ=TYP, key_set=stranger).split(".")
    header = b64(json.dumps({"alg": "ES256", "kid": key_set.active_kid, "typ": TYP}).encode())

    assert rejection(f"{header}.{payload}.{signature}", key_set) == "bad_signature"


def test_a_payload_that_is_not_an_object_is_malformed(key_set: signing.KeySet) -> None:
    # Forged with the key itself: the service never signs such a payload.
    token = jws.sign(
        b"[1, 2]",
        key_set.active.private_pem,
        headers={"kid": key_set.active_kid, "typ": TYP},
        algorithm="ES256",
    )

    assert rejection(token, key_set) == "malformed"
