"""The one canonical JSON encoding, pinned against values produced before it was made one module:
terms hashes, audit chain hashes and certificates issued then must still verify."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from marketplace import signing
from marketplace.audit.chain import entry_hash
from marketplace.canonical import canonical_json
from marketplace.licensing.service import terms_digest

TERMS = {
    "royalty": {"type": "hybrid", "rate": "3.50", "entry_fee": "12000.00"},
    "patents": ["202110123456.7"],
    "licensor": {"name": "清华大学"},
    "term_years": 3,
}
# Produced by the three copies of canonical_json that this module replaced.
TERMS_SHA256 = "fb4ed9a711c18d264441000c5e2635f526b0fc6a4a68fba5a1d14b2802881eda"
AUDIT_HASH = "9c3e88ce2a6c251156d254d77deb0841e0a50233adcd9e1bbe9f7fa9aeac099d"
# A throwaway P-256 key, for this test only, and a certificate it signed before the change.
TEST_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxe5ATkyieNNotaVG
4G0hxbhaq3S37gJMhI021BsWPqOhRANCAAToKf/4ikNh/HqroQ7b1uR7kiAzqCRz
Ie4YpczcD4K4L/pB9juAg6NSIRNZiSD6kRQdMt4xW+dH8Mxjtxkc2u9z
-----END PRIVATE KEY-----
"""
CERTIFICATE = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsyMDI2IiwidHlwIjoibGljZW5zZS1jZXJ0aWZpY2F0ZSJ9."
    "eyJsaWNlbnNlX2lkIjo1LCJsaWNlbnNlZSI6Iua3seWcs-afkOWFrOWPuCIsInRlcm1zX3NoYTI1NiI6ImZiNGVkOWE3"
    "MTFjMThkMjY0NDQxMDAwYzVlMjYzNWY1MjZiMGZjNmE0YTY4ZmJhNWExZDE0YjI4MDI4ODFlZGEifQ."
    "3tpDWsyb15HVjIW_RoTMmQPF7-HQFDIqfR5nTVzsGp5HVMsHPfbFLsD-w1hpqFtt_dAMrGoI1yYZeOr0jJdIeg"
)
CLAIMS = {"license_id": 5, "terms_sha256": TERMS_SHA256, "licensee": "深圳某公司"}


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8() -> None:
    encoded = canonical_json({"b": 1, "a": {"名称": "专利", "z": [1, 2]}})

    assert encoded == '{"a":{"z":[1,2],"名称":"专利"},"b":1}'.encode()


def test_terms_hash_matches_one_produced_before() -> None:
    assert terms_digest(TERMS) == TERMS_SHA256


def test_audit_entry_hash_matches_one_produced_before() -> None:
    assert (
        entry_hash(
            id=7,
            at=datetime(2026, 11, 25, 8, 30, tzinfo=UTC),
            actor="user:3",
            actor_organization_id=2,
            object_type="license",
            object_id=5,
            action="create",
            changes={"status": [None, "active"], "fee": [None, "12000.00"]},
            parties=[4, 2],
            prev_hash="0" * 64,
        )
        == AUDIT_HASH
    )


@pytest.fixture
def key_set(tmp_path: Path) -> signing.KeySet:
    (tmp_path / "k2026.pem").write_text(TEST_KEY_PEM)
    (tmp_path / signing.ACTIVE_FILE).write_text("k2026")
    return signing.load_key_set(tmp_path, create=False)


def test_certificate_signed_before_still_verifies(key_set: signing.KeySet) -> None:
    statement = signing.verify_statement(CERTIFICATE, typ="license-certificate", key_set=key_set)

    assert statement.claims == CLAIMS


def test_certificate_signed_now_carries_the_same_payload(key_set: signing.KeySet) -> None:
    token = signing.sign_statement(CLAIMS, typ="license-certificate", key_set=key_set)

    # ES256 signatures are randomised; the header and the signed payload are not.
    assert token.split(".")[:2] == CERTIFICATE.split(".")[:2]
