"""Control characters in text: refused on every path in.

The HTTP middleware guards JSON bodies and query strings; imports and the command line read text
that never passes through it, and check it here, with the same rule: tab, line feed and carriage
return are text, every other C0 control character and DEL is not."""

import re
from collections.abc import Iterable, Mapping

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def first_control_character(text: str) -> str | None:
    """The first forbidden character as ``U+0000``, or ``None`` when the text is clean."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def find_control_character(value: object, path: str = "") -> tuple[str, str] | None:
    """(where, code point) of the first forbidden character in a string, or in any string inside
    nested lists and mappings (keys included); ``where`` is a dotted path such as
    ``co_owners.0.name``."""
    if isinstance(value, str):
        code_point = first_control_character(value)
        return None if code_point is None else (path, code_point)
    items: Iterable[tuple[object, object]]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and (code_point := first_control_character(key)):
            return where, code_point
        if found := find_control_character(item, where):
            return found
    return None
