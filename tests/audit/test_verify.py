"""Verification finds the first entry that was changed, deleted, reordered or rehashed."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from marketplace.accounts.models import OrganizationKind
from marketplace.audit import chain
from marketplace.audit import service as audit
from marketplace.audit.chain import EVENTS, PARTIES
from marketplace.audit.models import GENESIS_HASH, ChainBreak
from marketplace.cli import app
from marketplace.config import get_settings
from marketplace.db import JSONType, get_engine, get_read_engine
from tests import factories


@pytest.fixture
def trail(session: Session) -> list[int]:
    """Six entries, in three transactions; returns their ids."""
    for _ in range(3):
        factories.member(session)  # an organization and its user
        session.commit()
    ids = list(session.scalars(sa.select(EVENTS.c.id).order_by(EVENTS.c.id)))
    assert ids == [1, 2, 3, 4, 5, 6]
    return ids


def row(session: Session, event_id: int) -> dict[str, Any]:
    found = session.execute(sa.select(EVENTS).where(EVENTS.c.id == event_id)).mappings().one()
    return dict(found)


def test_an_untouched_chain_verifies(session: Session, trail: list[int]) -> None:
    result = audit.verify_chain(session=session)
    assert result.ok
    assert result.checked == 6
    assert (result.head_id, result.head_hash) == chain.head(session)
    assert result.broken_at is None


def test_an_empty_chain_verifies(session: Session) -> None:
    result = audit.verify_chain(session=session)
    assert (result.ok, result.checked, result.head_id, result.head_hash) == (
        True,
        0,
        0,
        GENESIS_HASH,
    )


def test_changed_content_is_found_at_that_entry(session: Session, trail: list[int]) -> None:
    session.execute(
        sa.text("UPDATE audit_event SET changes = :changes WHERE id = 4").bindparams(
            sa.bindparam("changes", type_=JSONType)
        ),
        {"changes": {"verification": [None, "verified"]}},
    )
    result = audit.verify_chain(session=session)
    assert (result.ok, result.broken_at, result.reason) == (
        False,
        4,
        ChainBreak.content_hash_mismatch,
    )
    assert result.checked == 3


def test_a_changed_party_is_found(session: Session, trail: list[int]) -> None:
    session.execute(
        sa.text("UPDATE audit_event_party SET organization_id = 999 WHERE event_id = 2")
    )
    result = audit.verify_chain(session=session)
    assert (result.broken_at, result.reason) == (2, ChainBreak.content_hash_mismatch)


def test_a_deleted_entry_is_found_as_a_gap(session: Session, trail: list[int]) -> None:
    session.execute(sa.text("DELETE FROM audit_event_party WHERE event_id = 3"))
    session.execute(sa.text("DELETE FROM audit_event WHERE id = 3"))
    result = audit.verify_chain(session=session)
    assert (result.broken_at, result.reason) == (4, ChainBreak.gap)
    assert result.head_id == 2


def test_swapped_entries_are_found(session: Session, trail: list[int]) -> None:
    second, third = row(session, 2), row(session, 3)
    for target, source in ((2, third), (3, second)):
        session.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.id == target)
            .values({key: value for key, value in source.items() if key not in ("id", "hash")})
        )
        session.execute(
            sa.update(EVENTS).where(EVENTS.c.id == target).values(hash=f"{target:064d}")
        )
    for target, source in ((2, third), (3, second)):
        session.execute(sa.update(EVENTS).where(EVENTS.c.id == target).values(hash=source["hash"]))
    result = audit.verify_chain(session=session)
    assert (result.broken_at, result.reason) == (2, ChainBreak.content_hash_mismatch)


def test_a_rehashed_entry_breaks_the_link_after_it(session: Session, trail: list[int]) -> None:
    # The forger recomputes the changed entry's hash, but cannot fix the next entry's link
    # without rehashing everything after it (which the noted head then gives away).
    original = row(session, 2)
    changes = {"role": [None, "member"]}
    parties = list(
        session.scalars(sa.select(PARTIES.c.organization_id).where(PARTIES.c.event_id == 2))
    )
    forged = chain.entry_hash(
        id=2,
        at=original["at"],
        actor=original["actor"],
        actor_organization_id=original["actor_organization_id"],
        object_type=original["object_type"],
        object_id=original["object_id"],
        action=original["action"],
        changes=changes,
        parties=parties,
        prev_hash=original["prev_hash"],
    )
    session.execute(sa.update(EVENTS).where(EVENTS.c.id == 2).values(changes=changes, hash=forged))
    result = audit.verify_chain(session=session)
    assert (result.broken_at, result.reason) == (3, ChainBreak.prev_link_mismatch)


def test_verification_reads_in_batches(session: Session, trail: list[int]) -> None:
    progress: list[int] = []
    result = audit.verify_chain(session=session, batch_size=4, progress=progress.append)
    assert result.ok
    assert progress == [4, 6]


def test_the_chain_continues_across_transactions(session: Session, trail: list[int]) -> None:
    links = session.execute(sa.select(EVENTS.c.prev_hash, EVENTS.c.hash).order_by(EVENTS.c.id))
    previous = GENESIS_HASH
    for prev_hash, hash_ in links:
        assert prev_hash == previous
        previous = hash_


# The command --------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", f"sqlite:///{tmp_path}/audit.db")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY_FILE", str(tmp_path / "secret"))
    for cached in (get_settings, get_engine, get_read_engine):
        cached.cache_clear()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    yield get_engine()
    get_engine().dispose()
    for cached in (get_settings, get_engine, get_read_engine):
        cached.cache_clear()


def test_the_command_verifies_and_fails_on_tampering(cli_engine: sa.Engine) -> None:
    with Session(cli_engine) as session:
        for _ in range(3):
            factories.member(session, kind=OrganizationKind.bank)
            session.commit()

    intact = runner.invoke(app, ["audit", "verify", "--batch-size", "2"])
    assert intact.exit_code == 0, intact.output
    assert "intact: 6 entries" in intact.output

    with cli_engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_event SET actor = 'user:1' WHERE id = 5"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "broken at entry 5: content hash mismatch" in broken.output
