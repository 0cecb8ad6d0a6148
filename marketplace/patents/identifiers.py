"""Chinese patent identifiers: application numbers, IPC symbols and publication numbers.

Everything here is pure string handling so it can back request validation, database
normalization and search alike. Error messages are user-facing: they end up verbatim in
HTTP 422 bodies, so each one says what is wrong with the input and, where possible, what
was expected instead.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from enum import StrEnum

from marketplace import clock

__all__ = [
    "ApplicationNumber",
    "InvalidApplicationNumber",
    "InvalidIpcCode",
    "InvalidPublicationNumber",
    "PatentKind",
    "application_check_character",
    "canonical_application_number",
    "ipc_like_pattern",
    "ipc_section",
    "kind_of_canonical_number",
    "normalize_ipc",
    "normalize_ipc_prefix",
    "normalize_publication_number",
    "parse_application_number",
]


class PatentKind(StrEnum):
    invention = "invention"
    utility_model = "utility_model"
    design = "design"


class InvalidApplicationNumber(ValueError):
    pass


class InvalidIpcCode(ValueError):
    pass


class InvalidPublicationNumber(ValueError):
    pass


# `str.isdigit` also accepts Arabic-Indic, full-width and superscript digits, which
# would slip through validation into stored "canonical" values (or crash `int()`).
_ASCII_DIGITS = frozenset("0123456789")


def _is_ascii_digits(text: str) -> bool:
    return bool(text) and all(ch in _ASCII_DIGITS for ch in text)


def _strip_whitespace(raw: str) -> str:
    # `str.split()` splits on every Unicode whitespace character, including the
    # ideographic space U+3000 that Chinese input methods produce.
    return "".join(raw.split())


# ---------------------------------------------------------------------------
# Application numbers
# ---------------------------------------------------------------------------

# The 2003 format (12 digits + check character) replaced the 8-digit format; the
# earlier numbers have a different check scheme and are not accepted here.
_FIRST_YEAR = 2003
_APPLICATION_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_KIND_BY_TYPE_DIGIT: dict[int, PatentKind] = {
    1: PatentKind.invention,
    2: PatentKind.utility_model,
    3: PatentKind.design,
    8: PatentKind.invention,
    9: PatentKind.utility_model,
}
_PCT_TYPE_DIGITS = frozenset({8, 9})
_APPLICATION_PREFIXES = frozenset({"CN", "ZL"})
_APPLICATION_EXAMPLE = "202110123456.7"


def application_check_character(digits: str) -> str:
    """Return the check character for the 12 leading digits of an application number."""
    if len(digits) != 12 or not _is_ascii_digits(digits):
        raise InvalidApplicationNumber(f"check character needs exactly 12 digits; got {digits!r}")
    total = sum(map(operator.mul, map(int, digits), _APPLICATION_WEIGHTS))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def _max_application_year() -> int:
    # A year of slack covers numbers issued around New Year in time zones ahead of ours
    # without accepting obviously future-dated numbers.
    return clock.today().year + 1


def _validate_application_fields(
    year: int, type_digit: int, serial: str, check: str, *, max_year: int | None
) -> None:
    if year < _FIRST_YEAR:
        raise InvalidApplicationNumber(
            f"application year {year} is before {_FIRST_YEAR}; older numbers use a "
            "different format that is not supported"
        )
    if max_year is not None and year > max_year:
        raise InvalidApplicationNumber(
            f"application year {year} is in the future; the latest accepted is {max_year}"
        )
    if year > 9999:
        raise InvalidApplicationNumber(f"application year {year} must have 4 digits")
    if type_digit not in _KIND_BY_TYPE_DIGIT:
        raise InvalidApplicationNumber(
            f"patent type digit {type_digit} (5th digit) must be 1 (invention), "
            "2 (utility model), 3 (design), 8 (PCT invention) or 9 (PCT utility model)"
        )
    if len(serial) != 7 or not _is_ascii_digits(serial):
        raise InvalidApplicationNumber(f"serial number must be 7 digits; got {serial!r}")
    digits = f"{year:04d}{type_digit}{serial}"
    expected = application_check_character(digits)
    if check != expected:
        raise InvalidApplicationNumber(
            f"check character of {digits}.{check} is {check!r}; expected {expected!r}"
        )


@dataclass(frozen=True, slots=True)
class ApplicationNumber:
    """A validated post-2003 Chinese patent application number."""

    year: int
    type_digit: int
    serial: str
    check: str

    def __post_init__(self) -> None:
        # Direct construction must not be a back door around the check character. The
        # upper year bound depends on today's date, so only the parser enforces it.
        _validate_application_fields(
            self.year, self.type_digit, self.serial, self.check, max_year=None
        )

    @property
    def canonical(self) -> str:
        return f"{self.year:04d}{self.type_digit}{self.serial}.{self.check}"

    @property
    def kind(self) -> PatentKind:
        return _KIND_BY_TYPE_DIGIT[self.type_digit]

    @property
    def is_pct(self) -> bool:
        return self.type_digit in _PCT_TYPE_DIGITS

    def __str__(self) -> str:
        return self.canonical


def _split_application_number(raw: str) -> tuple[str, str | None, bool]:
    """Split into (body, check character or None, whether a '.' was present).

    Spaces and the prefix are dropped; the body keeps its case so error messages quote
    the user's own characters.
    """
    text = _strip_whitespace(raw)
    if text[:2].upper() in _APPLICATION_PREFIXES:
        text = text[2:]
    if not text:
        raise InvalidApplicationNumber("application number is empty")

    if "." in text:
        body, _, check = text.partition(".")
        if "." in check:
            raise InvalidApplicationNumber(
                f"application number {raw.strip()!r} contains more than one '.'"
            )
        if len(check) > 1:
            raise InvalidApplicationNumber(
                f"application number {raw.strip()!r} has {len(check)} characters after "
                "the '.'; expected a single check character"
            )
        return body, check.upper() or None, True

    if len(text) == 13:
        return text[:12], text[12].upper(), False
    return text, None, False


def parse_application_number(raw: str) -> ApplicationNumber:
    """Parse a post-2003 Chinese application number such as ``CN 202110123456.7``.

    Accepts an optional ``CN``/``ZL`` prefix (any case), spaces anywhere, an optional dot
    before the check character and a lowercase ``x``.
    """
    year, type_digit, serial, check = _validated_application_parts(raw)
    return ApplicationNumber(year=year, type_digit=type_digit, serial=serial, check=check)


def _validated_application_parts(raw: str) -> tuple[int, int, str, str]:
    body, check, had_dot = _split_application_number(raw)

    bad = next((ch for ch in body if ch not in _ASCII_DIGITS), None)
    if bad is not None:
        raise InvalidApplicationNumber(
            f"application number {raw.strip()!r} contains {bad!r}; expected 12 digits "
            f"and a check character, e.g. {_APPLICATION_EXAMPLE}"
        )
    if len(body) != 12:
        where = "before the '.'" if had_dot else "plus a check character"
        raise InvalidApplicationNumber(
            f"application number must have 12 digits {where}, "
            f"e.g. {_APPLICATION_EXAMPLE}; got {len(body)} digits"
        )
    if check is None:
        raise InvalidApplicationNumber(
            f"application number {body} lacks its check character; "
            f"expected {body}.{application_check_character(body)}"
        )

    year, type_digit, serial = int(body[:4]), int(body[4]), body[5:]
    _validate_application_fields(year, type_digit, serial, check, max_year=_max_application_year())
    return year, type_digit, serial, check


# Already canonical: 12 ASCII digits with a known type digit, a dot and the check character.
_CANONICAL_APPLICATION = re.compile(r"([0-9]{4})[12389][0-9]{7}\.[0-9X]", re.ASCII)


def canonical_application_number(raw: str) -> str:
    # The encumbrance check canonicalizes a thousand numbers per request, most of them
    # canonical already: those need only the year range and the check character.
    match = _CANONICAL_APPLICATION.fullmatch(raw)
    if (
        match is not None
        and _FIRST_YEAR <= int(match[1]) <= _max_application_year()
        and application_check_character(raw[:12]) == raw[13]
    ):
        return raw
    # Validated once, without building an ApplicationNumber (which would check again).
    year, type_digit, serial, check = _validated_application_parts(raw)
    return f"{year:04d}{type_digit}{serial}.{check}"


# ---------------------------------------------------------------------------
# IPC symbols
# ---------------------------------------------------------------------------

_IPC_SECTIONS = frozenset("ABCDEFGH")
_UPPER_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MAX_MAIN_GROUP_DIGITS = 4
_MAX_SUBGROUP_DIGITS = 6
_IPC_EXAMPLE = "G06F 16/33"


@dataclass(frozen=True, slots=True)
class _IpcParts:
    section: str
    class_: str | None = None
    subclass: str | None = None
    main_group: str | None = None
    subgroup: str | None = None

    @property
    def is_full(self) -> bool:
        return self.subgroup is not None

    def canonical(self) -> str:
        text = self.section
        if self.class_ is not None:
            text += self.class_
        if self.subclass is not None:
            text += self.subclass
        if self.main_group is not None:
            text += f" {self.main_group}"
        if self.subgroup is not None:
            text += f"/{self.subgroup}"
        return text


class _IpcScanner:
    """Left-to-right reader that lets whitespace sit between, but not inside, components."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.text = raw.upper()
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take_digits(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _ASCII_DIGITS:
            self.pos += 1
        return self.text[start : self.pos]

    def error(self, message: str) -> InvalidIpcCode:
        return InvalidIpcCode(f"IPC code {self.raw.strip()!r}: {message}")


def _parse_ipc(raw: str) -> _IpcParts:
    scan = _IpcScanner(raw)
    if scan.at_end():
        raise InvalidIpcCode("IPC code is empty")

    section = scan.peek()
    if section not in _IPC_SECTIONS:
        raise scan.error(f"section must be a letter A-H; got {section!r}")
    scan.pos += 1
    if scan.at_end():
        return _IpcParts(section)

    class_ = scan.take_digits()
    if len(class_) != 2:
        got = class_ or scan.peek()
        raise scan.error(f"class must be 2 digits after the section; got {got!r}")
    if scan.at_end():
        return _IpcParts(section, class_)

    subclass = scan.peek()
    if subclass not in _UPPER_LETTERS:
        raise scan.error(f"subclass must be a letter after the class; got {subclass!r}")
    scan.pos += 1
    if scan.at_end():
        return _IpcParts(section, class_, subclass)

    main_digits = scan.take_digits()
    if not main_digits:
        raise scan.error(f"main group must be digits after the subclass; got {scan.peek()!r}")
    if len(main_digits) > _MAX_MAIN_GROUP_DIGITS:
        raise scan.error(f"main group {main_digits} has more than 4 digits")
    main_group = main_digits.lstrip("0")
    if not main_group:
        raise scan.error("main group must not be 0")
    if scan.at_end():
        return _IpcParts(section, class_, subclass, main_group)

    if scan.peek() != "/":
        raise scan.error(f"expected '/' after main group {main_group}; got {scan.peek()!r}")
    scan.pos += 1
    scan.skip_space()
    subgroup = scan.take_digits()
    if not subgroup:
        raise scan.error(f"subgroup must be digits after '/', e.g. {_IPC_EXAMPLE}")
    if len(subgroup) > _MAX_SUBGROUP_DIGITS:
        raise scan.error(f"subgroup {subgroup} has more than 6 digits")
    if len(subgroup) == 1 and subgroup != "0":
        # "/0" can only mean the main-group entry "/00", but "/3" could be a dropped
        # leading zero (/03) or a dropped trailing one (/30); guessing would silently
        # file the patent under the wrong subgroup.
        raise scan.error(
            f"subgroup must have at least 2 digits; write {main_group}/0{subgroup} "
            f"or {main_group}/{subgroup}0"
        )
    if not scan.at_end():
        raise scan.error(f"unexpected {scan.peek()!r} after subgroup {subgroup}")
    # "/0" and "/00" denote the same main-group entry; IPC always prints two digits.
    return _IpcParts(section, class_, subclass, main_group, subgroup.ljust(2, "0"))


def normalize_ipc(raw: str) -> str:
    """Canonical spelling of a full IPC symbol, e.g. ``g06f016/33`` -> ``G06F 16/33``."""
    parts = _parse_ipc(raw)
    if not parts.is_full:
        raise InvalidIpcCode(
            f"IPC code {raw.strip()!r} is incomplete; a full symbol needs a main group "
            f"and subgroup, e.g. {_IPC_EXAMPLE}"
        )
    return parts.canonical()


def normalize_ipc_prefix(raw: str) -> str:
    """Canonical spelling of an IPC symbol at any level: ``G``, ``G06``, ``G06F``,
    ``G06F 16`` or ``G06F 16/33``."""
    return _parse_ipc(raw).canonical()


def ipc_like_pattern(prefix: str) -> str:
    """SQL LIKE pattern matching canonical full symbols under ``prefix``.

    Normalization leaves only ``[A-Z0-9 /]``, so the result needs no escaping. A full
    symbol yields itself: IPC subgroup hierarchy is expressed by dots in the scheme, not
    by digit prefixes, so ``16/33`` has no textual descendants like ``16/331``.
    """
    parts = _parse_ipc(prefix)
    canonical = parts.canonical()
    if parts.is_full:
        return canonical
    if parts.main_group is not None:
        # The "/" stops "G06F 16" from also matching "G06F 160/00".
        return f"{canonical}/%"
    if parts.subclass is not None:
        return f"{canonical} %"
    # Section and class have fixed widths, so plain prefix matching is exact.
    return f"{canonical}%"


def ipc_levels(code: str) -> tuple[str, ...]:
    """A canonical IPC symbol or prefix as its levels: section, class, subclass, main group,
    subgroup (as many as it has)."""
    levels = [code[:1]]
    if len(code) >= 3:
        levels.append(code[:3])
    if len(code) >= 4:
        levels.append(code[:4])
    if len(code) > 4:
        levels.append(code.split("/")[0])
    if "/" in code:
        levels.append(code)
    return tuple(levels)


def ipc_section(code: str) -> str:
    return _parse_ipc(code).section


# ---------------------------------------------------------------------------
# Publication / grant numbers
# ---------------------------------------------------------------------------

_PUBLICATION_KIND_LETTERS = frozenset("ABCUYS")
_PUBLICATION_EXAMPLE = "CN114123456B"


def normalize_publication_number(raw: str) -> str:
    """Canonical spelling of a CN publication or grant number, e.g. ``CN114123456B``."""
    text = _strip_whitespace(raw).upper()
    if not text:
        raise InvalidPublicationNumber("publication number is empty")
    body = text.removeprefix("CN")
    shown = f"CN{body}"

    split = next((i for i, ch in enumerate(body) if ch not in _ASCII_DIGITS), len(body))
    digits, kind = body[:split], body[split:]
    if not digits:
        raise InvalidPublicationNumber(
            f"publication number {shown!r} must have 6 to 9 digits after CN, "
            f"e.g. {_PUBLICATION_EXAMPLE}"
        )
    if not 6 <= len(digits) <= 9:
        raise InvalidPublicationNumber(
            f"publication number {shown!r} has {len(digits)} digits; expected 6 to 9"
        )
    if not kind:
        raise InvalidPublicationNumber(
            f"publication number {shown} lacks its kind code (A, B, C, U, Y or S)"
        )
    if (
        kind[0] not in _PUBLICATION_KIND_LETTERS
        or len(kind) > 2
        or (len(kind) == 2 and kind[1] not in _ASCII_DIGITS)
    ):
        raise InvalidPublicationNumber(
            f"publication number {shown!r} has kind code {kind!r}; expected A, B, C, U, "
            "Y or S, optionally followed by one digit"
        )
    return shown


def kind_of_canonical_number(canonical: str) -> PatentKind:
    """The kind of an application number already validated into canonical form (a bulk import
    has just validated thousands and need not parse them again)."""
    return _KIND_BY_TYPE_DIGIT[int(canonical[4])]
