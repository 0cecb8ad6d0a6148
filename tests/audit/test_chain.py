"""An entry's hash computed from its parts (the canonical JSON around its link, prepared before
the chain is locked) is the hash `audit verify` recomputes from the whole entry."""

from datetime import UTC, datetime

import pytest

from marketplace.audit.chain import Actor, Entry, entry_hash, hash_parts

AT = datetime(2026, 12, 7, 11, 5, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"status": ["active", "terminated"]},
        {"title": [None, '一种电池 "cooling" \\ }{ ,"id":1']},
        {"note": [None, '"prev_hash":"' + "0" * 64 + '"}']},
        {"amount": ["1.50", "2.00"], "nested": [None, {"b": [1, 2], "a": "x"}]},
    ],
)
@pytest.mark.parametrize("position", [1, 42, 10**12])
def test_the_parts_hash_to_the_entry_hash(changes: dict[str, list[object]], position: int) -> None:
    entry = Entry(
        object_type="license",
        object_id=7,
        action="updated",
        changes=changes,
        parties=[9, 3],
        actor=Actor("user:5", organization_id=3),
    )
    prev = "ab" * 32
    expected = entry_hash(
        id=position,
        at=AT,
        actor="user:5",
        actor_organization_id=3,
        object_type="license",
        object_id=7,
        action="updated",
        changes=changes,
        parties=[3, 9],
        prev_hash=prev,
    )
    assert hash_parts(entry, AT).hash(position, prev) == expected


def test_an_actor_without_organization_and_no_parties_hash_alike() -> None:
    entry = Entry("pledge", 1, "created", {"status": [None, "applied"]}, [], Actor("system"))
    expected = entry_hash(
        id=1,
        at=AT,
        actor="system",
        actor_organization_id=None,
        object_type="pledge",
        object_id=1,
        action="created",
        changes={"status": [None, "applied"]},
        parties=[],
        prev_hash="0" * 64,
    )
    assert hash_parts(entry, AT).hash(1, "0" * 64) == expected
