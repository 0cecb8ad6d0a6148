"""The one canonical JSON encoding.

Certificates are signed over it, audit entries are chained by hashes of it, and every license's
terms hash is taken over it: a second copy that drifted would break verification of everything
produced before the change, silently. Tests pin its output against values produced in the past.
"""

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII characters kept as they are)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
