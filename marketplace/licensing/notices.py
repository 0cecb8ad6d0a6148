"""Events about a license, told to its parties."""

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing.models.licenses import License


def license_event(
    session: Session,
    license_: License,
    type: EventType,
    *,
    to: Sequence[int] | None = None,
    **payload: Any,
) -> None:
    """Record an event about ``license_`` for both parties (or for ``to`` only). The payload names
    the license by id and number, then carries ``payload``."""
    events.record(
        session,
        recipients=[license_.licensor_id, license_.licensee_id] if to is None else to,
        type=type,
        subject=f"license:{license_.id}",
        payload={
            "license_id": license_.id,
            "license_number": license_.license_number,
            **payload,
        },
    )
