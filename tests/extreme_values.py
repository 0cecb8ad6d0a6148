"""Extreme values for every kind of input field, and the way to put one into a request.

Shared by the schema-walking sweep (tests/test_extreme_values.py) and the schemathesis run,
which draws from the same lists."""

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Each kind of field gets its values in two lists: those that may pass validation and so reach
# the service, sent to every field; and those that any parser refuses the same way, sent once an
# operation (to its first field of the kind), which keeps the sweep short.

# The first and last days of the calendar, an impossible day, nothing at all; a year zero, a
# five-digit year, a number.
DATES: list[Any] = ["0001-01-01", "9999-12-31", "2026-02-30", ""]
ODD_DATES: list[Any] = ["0000-01-01", "+10000-01-01", 0]
# The ends of time, some with an offset that carries them past the end when moved to UTC.
DATE_TIMES: list[Any] = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
]
ODD_DATE_TIMES: list[Any] = ["9999-12-31T23:59:59", "2026-13-01T00:00:00Z", ""]
INTEGERS: list[Any] = [0, -1, 2**31, 2**63, -(2**63) - 1, 1e308]
ODD_INTEGERS: list[Any] = [10**400, 1.5, float("nan"), float("inf"), ""]
NUMBERS: list[Any] = [
    0,
    -1,
    1e308,
    5e-324,
    10**40,
    "NaN",
    "1e999999",
    "0.000000000000000000000000001",
    "123456789012345678901234567890.123456789",
]
ODD_NUMBERS: list[Any] = [-0.0, -1e308, float("nan"), float("inf"), "-Infinity", ""]
# Strings: empty and blank, a right-to-left override, characters outside the basic plane, the
# plainly hostile; and once an operation, control characters, a lone surrogate, a byte-order
# mark and a spreadsheet formula.
STRINGS: list[Any] = ["", " ", "\u202eevil", "\U0001d54f" * 8, "' OR 1=1 --"]
ODD_STRINGS: list[Any] = ["\x00", "a\x1bb", "\ud800", "\ufeff", '=HYPERLINK("http://x")', "%s%n"]


def long_strings(max_length: int | None) -> list[str]:
    """Strings at and past the field's bound, of characters that grow when lower-cased (İ) or
    normalised (ﬃ): a check on the characters' count must hold for what is stored."""
    bound = max_length or 1000
    return ["İ" * bound, "ﬃ" * bound, "x" * (bound + 1)]


# Once an operation, in a query string.
QUERY_EXTRAS = ["nan", "inf", "1e999999", "%00"]


def kind_of(schema: dict[str, Any]) -> str | None:
    """date, date-time, integer, number or string: the kinds of field the sweep fills."""
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "string" and fmt in ("date", "date-time"):
        return str(fmt)
    if kind in ("integer", "number", "string"):
        return str(kind)
    return None


def values_for(schema: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(values for every field, values once an operation) for a field of this (resolved,
    non-null) schema."""
    return {
        "date": (DATES, ODD_DATES),
        "date-time": (DATE_TIMES, ODD_DATE_TIMES),
        "integer": (INTEGERS, ODD_INTEGERS),
        "number": (NUMBERS, ODD_NUMBERS),
        "string": (STRINGS + long_strings(schema.get("maxLength")), ODD_STRINGS),
    }.get(kind_of(schema) or "", ([], []))


@dataclass(frozen=True)
class Leaf:
    """A field to sweep: where it sits in the body and its schema."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]


class Schema:
    """The OpenAPI document's JSON schemas, with references resolved."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components: dict[str, Any] = document["components"]["schemas"]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def non_null(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The first variant of a union that is not null, resolved; the schema itself otherwise."""
        schema = self.resolve(schema)
        for variant in schema.get("anyOf", []):
            variant = self.resolve(variant)
            if variant.get("type") != "null":
                return variant
        return schema

    def leaves(self, schema: dict[str, Any], path: tuple[str | int, ...] = ()) -> Iterator[Leaf]:
        """Every date, number and string field, nested objects and array items included."""
        schema = self.non_null(schema)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            for name, field in schema.get("properties", {}).items():
                yield from self.leaves(field, (*path, name))
        elif kind == "array":
            yield from self.leaves(schema.get("items", {}), (*path, 0))
        elif kind_of(schema) is not None and "enum" not in schema:
            yield Leaf(path, schema)

    def example(self, schema: dict[str, Any], overrides: dict[str, Any]) -> Any:
        """A valid value: the schema's own example where it gives one, the caller's value for
        fields named in ``overrides``, otherwise the simplest value the schema allows."""
        schema = self.non_null(schema)
        if "examples" in schema and schema.get("type") == "object":
            built = copy.deepcopy(schema["examples"][0])
            for name in schema.get("properties", {}):
                if name in overrides:
                    built[name] = overrides[name]
            return built
        if schema.get("type") == "object" or "properties" in schema:
            required = set(schema.get("required", []))
            built = {}
            for name, field in schema.get("properties", {}).items():
                if name in overrides:
                    built[name] = overrides[name]
                elif name in required:
                    built[name] = self.example(field, overrides)
            return built
        if "examples" in schema:
            return schema["examples"][0]
        if "default" in schema:
            return schema["default"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "array":
            return [self.example(schema.get("items", {}), overrides)] * schema.get("minItems", 0)
        if kind == "integer":
            return int(schema.get("minimum", 1))
        if kind == "number":
            return "1"
        if kind == "boolean":
            return False
        if schema.get("format") == "date":
            return "2026-06-15"
        if schema.get("format") == "date-time":
            return "2026-06-15T09:30:00Z"
        return "sweep"[: schema.get("maxLength", 5)].ljust(schema.get("minLength", 0), "x")


def with_value(
    schemas: Schema, body: Any, schema: dict[str, Any], path: tuple[str | int, ...], value: Any
) -> Any:
    """A copy of ``body`` with the field at ``path`` set to ``value``: missing objects on the
    way are built from the schema, an array becomes one item."""
    if not path:
        return value
    schema = schemas.non_null(schema)
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = schemas.non_null(schema.get("items", {}))
        item = body[0] if isinstance(body, list) and body else schemas.example(items, {})
        return [with_value(schemas, item, items, rest, value)]
    field = schema["properties"][head]
    built = dict(body) if isinstance(body, dict) else {}
    current = built.get(head)
    if current is None and rest:
        current = schemas.example(field, {})
    built[head] = with_value(schemas, current, field, rest, value)
    return built
