"""The server killed (SIGKILL) in the middle of an acceptance load on PostgreSQL loses nothing it
committed, leaves nothing half-written, and answers each replayed Idempotency-Key with the same
license (benchmarks/crash_safety.py, on a small load).

PostgreSQL only: the crash is of a server process beside a database server."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks import crash_safety
from marketplace import clock
from tests.conftest import SERVER_DATABASE_URL, postgres_only

pytestmark = [postgres_only, pytest.mark.postgres]


def test_a_killed_server_loses_nothing_committed_and_replays_each_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SERVER_DATABASE_URL is not None
    # The seeded data and the server share the real calendar.
    monkeypatch.setattr(clock, "now", lambda: datetime.now(UTC))
    monkeypatch.setattr(clock, "today", lambda: clock.day_of(datetime.now(UTC)))
    report = crash_safety.run(
        SERVER_DATABASE_URL, tmp_path, licensees=4, offers=4, threads=4, kill_after=6
    )

    assert report.mismatches == []
    # The kill came in the middle: some acceptances were answered, the rest were not.
    assert report.answered_201 >= 6
    assert report.committed_at_restart >= report.answered_201
    assert report.replayed == 16
    assert report.replay_same == report.committed_at_restart
    assert report.replay_same + report.replay_created == 16
    assert report.certificates_verified == 16
    assert report.audit_entries > 0
