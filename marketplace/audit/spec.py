"""The marker that puts a table model under audit. One line in the model:

    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"), state="status")

Every insert, update and delete of such a model is then recorded in the audit trail, whichever
way a service makes it (see ``recorder``). Nothing here imports a model, so any model may use it.
"""

from dataclasses import dataclass
from typing import Any

# Fields whose names contain one of these are never recorded (password hashes, token material).
SECRET_MARKERS = ("password", "secret", "token")


@dataclass(frozen=True, slots=True)
class Audited:
    # Columns holding the ids of the organizations party to the object: they read its entries.
    parties: tuple[str, ...] = ()
    # (parent model, foreign key column): the parent's parties are parties too (an offer's
    # listing owner). The parent is found in the session's identity map, so without a query.
    parent: tuple[type[Any], str] | None = None
    # The status column: a change of it names the entry's action after the new state.
    state: str | None = None
    # Further columns not worth recording (noise such as a last-login time).
    exclude: tuple[str, ...] = ()

    def records(self, field: str) -> bool:
        lowered = field.lower()
        if field in self.exclude or lowered.endswith("_hash"):
            return False
        return not any(marker in lowered for marker in SECRET_MARKERS)


def audited(model: type[Any]) -> Audited | None:
    spec = getattr(model, "__audited__", None)
    return spec if isinstance(spec, Audited) else None
