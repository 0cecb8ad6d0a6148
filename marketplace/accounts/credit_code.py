"""Unified social credit codes (统一社会信用代码, GB 32100-2015) of organizations.

Error messages are user-facing (they end up in HTTP 422 bodies), so each one says what is
wrong and, for a bad check character, which character was expected.
"""

from __future__ import annotations

__all__ = [
    "ALPHABET",
    "InvalidCreditCode",
    "credit_code_check_character",
    "normalize_credit_code",
]

# The standard drops I, O, Z, S and V because they are easily confused with 1, 0, 2, 5
# and U on paper; a character's value is its index here.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_LENGTH = 18
_EXCLUDED_LETTERS = frozenset("IOZSV")
# 1-based positions 3-8, the administrative division code (GB/T 2260).
_DIVISION = slice(2, 8)
_DIGITS = frozenset("0123456789")


class InvalidCreditCode(ValueError):
    pass


def _forbidden_character_message(ch: str, position: int) -> str:
    if ch in _EXCLUDED_LETTERS:
        reason = "credit codes never use the letters I, O, Z, S or V"
    else:
        reason = "only digits and letters other than I, O, Z, S and V are allowed"
    return f"character {ch!r} at position {position} is not allowed; {reason}"


def credit_code_check_character(first17: str) -> str:
    """Return the 18th (check) character for the first 17 characters of a credit code."""
    if len(first17) != _LENGTH - 1:
        raise InvalidCreditCode(f"check character needs exactly 17 characters; got {len(first17)}")
    total = 0
    for position, (ch, weight) in enumerate(zip(first17, _WEIGHTS, strict=True), start=1):
        value = _VALUES.get(ch)
        if value is None:
            raise InvalidCreditCode(_forbidden_character_message(ch, position))
        total += value * weight
    return ALPHABET[(31 - total % 31) % 31]


def normalize_credit_code(raw: str) -> str:
    """Validate a unified social credit code and return it in canonical form.

    Spaces (any whitespace) and hyphens are dropped and letters are uppercased, since
    codes are often copied from business licenses that print them in groups.
    """
    code = "".join(raw.split()).replace("-", "").upper()
    if not code:
        raise InvalidCreditCode("credit code is empty")
    if len(code) != _LENGTH:
        raise InvalidCreditCode(f"credit code must be 18 characters; got {len(code)}")
    for position, ch in enumerate(code, start=1):
        if ch not in _VALUES:
            raise InvalidCreditCode(_forbidden_character_message(ch, position))
    division = code[_DIVISION]
    if not all(ch in _DIGITS for ch in division):
        raise InvalidCreditCode(
            f"administrative division code (positions 3-8) must be 6 digits; got {division!r}"
        )
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        raise InvalidCreditCode(f"check character of {code} is {code[17]!r}; expected {expected!r}")
    return code
