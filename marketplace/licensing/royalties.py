"""Royalty arithmetic: pure functions over a license's frozen terms, no database.

The rounding rule: every amount is computed exactly (``Decimal``, no floats, no intermediate
rounding) and each obligation is rounded **once**, to the currency's minor unit, half up
(``ROUND_HALF_UP``). A correction owes the difference of two already rounded amounts, so that a
report and all its corrections add up to exactly the rounded royalty of the latest one.
"""

import decimal
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marketplace.listings.models import RoyaltyType
from marketplace.patents.service import add_months, add_years

# ISO 4217 currencies without a minor unit. Money is stored to two decimals, so a currency with
# three minor digits (BHD, KWD, ...) is rounded to its hundredths.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
     "VUV", "XAF", "XOF", "XPF"}
)  # fmt: skip
CENT = Decimal("0.01")
ONE = Decimal(1)
HUNDRED = Decimal(100)
# The largest amount a money column holds (NUMERIC(18, 2)).
MAX_AMOUNT = Decimal("9999999999999999.99")
ROYALTY_BEARING = frozenset(
    {RoyaltyType.running, RoyaltyType.per_unit, RoyaltyType.hybrid, RoyaltyType.profit_share}
)


class AmountTooLarge(ValueError):
    """A computed amount beyond what a money column holds."""


def _exact() -> decimal.Context:
    # Products of the stored amounts need at most 16 + 7 + 13 digits: with this precision and
    # Inexact trapped, any silent rounding would raise instead.
    return decimal.Context(prec=60, rounding=ROUND_HALF_UP, traps=[decimal.Inexact])


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` an obligation is rounded to."""
    return ONE if currency.upper() in ZERO_DECIMAL_CURRENCIES else CENT


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """The one rounding step: to the minor unit, half away from zero."""
    rounded = amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    if abs(rounded) > MAX_AMOUNT:
        raise AmountTooLarge(f"{rounded} {currency} exceeds the largest amount recorded")
    # Stored to two decimals whatever the currency, so that equal amounts compare and print alike.
    return rounded.quantize(CENT)


@dataclass(frozen=True, slots=True)
class RoyaltyTerms:
    """The money part of a license's frozen terms."""

    royalty_type: RoyaltyType
    currency: str
    upfront_fee: Decimal | None = None
    rate_percent: Decimal | None = None
    per_unit_fee: Decimal | None = None
    minimum_annual: Decimal | None = None

    @property
    def royalty_bearing(self) -> bool:
        """Whether the licensee files periodic reports (running, per-unit, hybrid, profit
        share)."""
        return self.royalty_type in ROYALTY_BEARING

    @property
    def needs_profit(self) -> bool:
        return self.royalty_type is RoyaltyType.profit_share

    @property
    def needs_units(self) -> bool:
        return self.per_unit_fee is not None and self.royalty_type in (
            RoyaltyType.per_unit,
            RoyaltyType.hybrid,
        )

    @classmethod
    def from_terms(cls, terms: dict[str, Any]) -> "RoyaltyTerms":
        """Read the ``offer`` section of the terms a license froze at acceptance."""
        offer = terms["offer"]

        def amount(key: str) -> Decimal | None:
            value = offer.get(key)
            return None if value is None else Decimal(str(value))

        return cls(
            royalty_type=RoyaltyType(offer["royalty_type"]),
            currency=str(offer["currency"]),
            upfront_fee=amount("upfront_fee"),
            rate_percent=amount("royalty_rate_percent"),
            per_unit_fee=amount("per_unit_fee"),
            minimum_annual=amount("minimum_annual"),
        )


def running_royalty(net_sales: Decimal, rate_percent: Decimal) -> Decimal:
    """``net_sales x rate / 100``, exactly."""
    with decimal.localcontext(_exact()):
        return net_sales * rate_percent / HUNDRED


def per_unit_royalty(units: int, fee: Decimal) -> Decimal:
    """``units x fee``, exactly."""
    with decimal.localcontext(_exact()):
        return Decimal(units) * fee


def exact_royalty(
    terms: RoyaltyTerms, *, net_sales: Decimal, units: int | None, profit: Decimal | None = None
) -> Decimal:
    """The unrounded royalty of one reporting period.

    Running: a percentage of net sales. Per-unit: a fee per unit sold. Hybrid: the running
    royalty, plus a per-unit fee if the terms carry one (its entry fee is the upfront
    obligation, not part of any report). Profit share: a percentage of the period's profit.
    Lump-sum licenses owe no periodic royalty."""
    total = Decimal(0)
    if terms.royalty_type in (RoyaltyType.running, RoyaltyType.hybrid) and terms.rate_percent:
        total += running_royalty(net_sales, terms.rate_percent)
    if terms.needs_profit and terms.rate_percent:
        # The same arithmetic as a running royalty, over profit instead of net sales.
        total += running_royalty(profit or Decimal(0), terms.rate_percent)
    if terms.needs_units:
        assert terms.per_unit_fee is not None
        total += per_unit_royalty(units or 0, terms.per_unit_fee)
    return total


def royalty_due(
    terms: RoyaltyTerms, *, net_sales: Decimal, units: int | None, profit: Decimal | None = None
) -> Decimal:
    """The royalty of one reporting period, rounded once."""
    return round_amount(
        exact_royalty(terms, net_sales=net_sales, units=units, profit=profit), terms.currency
    )


def correction_amount(*, previous_due: Decimal, corrected_due: Decimal) -> Decimal:
    """What a correcting report adds (positive) or credits (negative): the difference of the two
    rounded royalties, so that nothing is rounded twice."""
    return corrected_due - previous_due


@dataclass(frozen=True, slots=True)
class LicenseYear:
    index: int
    start: date
    end: date
    full_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def full_days(self) -> int:
        return (self.full_end - self.start).days + 1


def license_years(effective: date, expires_on: date) -> list[LicenseYear]:
    """The license years from the effective date: anniversaries, the last one cut at expiry."""
    years: list[LicenseYear] = []
    index = 0
    while True:
        start = add_years(effective, index)
        if start > expires_on:
            return years
        full_end = add_years(effective, index + 1) - timedelta(days=1)
        years.append(LicenseYear(index, start, min(full_end, expires_on), full_end))
        index += 1


def license_year_of(effective: date, day: date) -> int:
    """The index of the license year that contains ``day`` (on or after ``effective``)."""
    index = max(day.year - effective.year - 1, 0)
    while add_years(effective, index + 1) <= day:
        index += 1
    return index


def year_minimum(
    minimum_annual: Decimal, year: LicenseYear, *, ended_on: date | None, currency: str
) -> Decimal:
    """The minimum royalty owed for one license year: in full for a whole year, pro rata by days
    for a year cut short (by expiry, or by ``ended_on``, the day the license ended early), and
    nothing for a year that the license never reached. Rounded once."""
    last_day = year.end if ended_on is None else min(year.end, ended_on)
    if last_day < year.start or minimum_annual <= 0:
        return Decimal("0.00")
    days = (last_day - year.start).days + 1
    if days == year.full_days:
        return round_amount(minimum_annual, currency)
    with decimal.localcontext(decimal.Context(prec=60)):
        share = minimum_annual * days / year.full_days
    return round_amount(share, currency)


def shortfall(*, minimum: Decimal, royalties: Decimal) -> Decimal:
    """What the year's royalties fall short of its minimum; never negative."""
    return max(minimum - royalties, Decimal("0.00"))


def shortfall_adjustment(
    *, minimum: Decimal, royalties: Decimal, already_charged: Decimal
) -> Decimal:
    """The next minimum-shortfall obligation for a year: the shortfall now owed, less the
    shortfall obligations already created for it. Applying it brings their sum to exactly
    ``shortfall(minimum, royalties)``, however many times royalties change: never counted twice."""
    return shortfall(minimum=minimum, royalties=royalties) - already_charged


def reporting_periods(
    effective: date, ends_on: date, *, months: int, until: date
) -> list[tuple[date, date]]:
    """The reporting periods of a license (``months`` long from the effective date, cut at
    ``ends_on``) that start on or before ``until``."""
    periods: list[tuple[date, date]] = []
    index = 0
    while True:
        start = add_months(effective, index * months)
        if start > ends_on or start > until:
            return periods
        end = min(add_months(effective, (index + 1) * months) - timedelta(days=1), ends_on)
        periods.append((start, end))
        index += 1


def uncovered(period: tuple[date, date], covered: list[tuple[date, date]]) -> bool:
    """Whether some day of ``period`` lies in none of the ``covered`` intervals."""
    start, end = period
    cursor = start
    for c_start, c_end in sorted(covered):
        if c_end < cursor:
            continue
        if c_start > cursor:
            return True
        cursor = c_end + timedelta(days=1)
        if cursor > end:
            return False
    return cursor <= end
