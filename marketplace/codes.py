"""ISO 4217 currency and ISO 3166-1 alpha-2 country codes, from the maintained ``pycountry``
lists rather than a pattern: ``XYZ`` and ``XX`` have the right shape and mean nothing.

The annotated types validate API bodies; ``is_currency`` / ``is_country`` serve every other path
in (the command line, imports) so that all of them accept the same codes. The lists are read
on first use, not when a model module is imported."""

from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

# Codes in the ISO 4217 list that name no money a license or a loan is paid in: the testing code
# and "no currency".
_NOT_MONEY = frozenset({"XTS", "XXX"})


@lru_cache(maxsize=1)
def currencies() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_MONEY


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_currency(code: str) -> bool:
    return code in currencies()


def is_country(code: str) -> bool:
    return code in countries()


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _country(value: str) -> str:
    if not is_country(value):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
"""An ISO 4217 code in capitals (``CNY``)."""

CountryCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_country),
]
"""An ISO 3166-1 alpha-2 code; lower case is accepted and stored in capitals (``cn`` → ``CN``)."""
