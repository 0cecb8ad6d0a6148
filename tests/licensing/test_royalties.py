"""Royalty arithmetic: examples worked by hand, and properties over generated terms and sales."""

import itertools
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.licensing import royalties
from marketplace.licensing.royalties import LicenseYear, RoyaltyTerms
from marketplace.listings.models import RoyaltyType

money = st.decimals(
    min_value=Decimal(0), max_value=Decimal("99999999999999.99"), places=2, allow_nan=False
)
positive_money = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2, allow_nan=False
)
# Fees up to 99,999.99 a unit times a billion units stay within a money column.
unit_fees = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2, allow_nan=False
)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4)
units = st.integers(min_value=0, max_value=10**9)
currencies = st.sampled_from(["CNY", "USD", "EUR", "JPY", "KRW"])
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


def running(rate: Decimal, currency: str = "CNY") -> RoyaltyTerms:
    return RoyaltyTerms(RoyaltyType.running, currency, rate_percent=rate)


def per_unit(fee: Decimal, currency: str = "CNY") -> RoyaltyTerms:
    return RoyaltyTerms(RoyaltyType.per_unit, currency, per_unit_fee=fee)


# Worked examples -----------------------------------------------------------------------------


def test_running_royalty_of_a_worked_example() -> None:
    # 1,234,567.89 x 3.5 % = 43,209.87615 -> 43,209.88
    terms = running(Decimal("3.5"))
    assert royalties.exact_royalty(terms, net_sales=Decimal("1234567.89"), units=None) == Decimal(
        "43209.876150"
    )
    assert royalties.royalty_due(terms, net_sales=Decimal("1234567.89"), units=None) == Decimal(
        "43209.88"
    )


def test_half_a_cent_rounds_up() -> None:
    # 0.50 x 1 % = 0.005 exactly: half up gives 0.01 (banker's rounding would give 0.00).
    assert royalties.royalty_due(
        running(Decimal(1)), net_sales=Decimal("0.50"), units=None
    ) == Decimal("0.01")
    assert royalties.royalty_due(
        running(Decimal(1)), net_sales=Decimal("0.49"), units=None
    ) == Decimal("0.00")


def test_zero_decimal_currency_rounds_to_whole_units() -> None:
    terms = running(Decimal("2.5"), "JPY")
    # 1,000,010 x 2.5 % = 25,000.25 -> 25,000
    assert royalties.royalty_due(terms, net_sales=Decimal(1_000_010), units=None) == Decimal(
        "25000.00"
    )
    assert royalties.round_amount(Decimal("12.5"), "JPY") == Decimal("13.00")


def test_per_unit_and_hybrid_with_a_unit_fee() -> None:
    assert royalties.royalty_due(
        per_unit(Decimal("1.25")), net_sales=Decimal(0), units=4200
    ) == Decimal("5250.00")
    hybrid = RoyaltyTerms(
        RoyaltyType.hybrid, "CNY", rate_percent=Decimal(2), per_unit_fee=Decimal("0.10")
    )
    # 2 % of 10,000 + 300 x 0.10
    assert royalties.royalty_due(hybrid, net_sales=Decimal(10_000), units=300) == Decimal("230.00")


def test_hybrid_without_a_unit_fee_is_running_on_net_sales() -> None:
    hybrid = RoyaltyTerms(
        RoyaltyType.hybrid, "CNY", upfront_fee=Decimal(50_000), rate_percent=Decimal("3.5")
    )
    assert not hybrid.needs_units
    assert royalties.royalty_due(hybrid, net_sales=Decimal(100_000), units=999) == Decimal(
        "3500.00"
    )


def test_lump_sum_owes_no_periodic_royalty() -> None:
    terms = RoyaltyTerms(RoyaltyType.lump_sum, "CNY", upfront_fee=Decimal(300_000))
    assert not terms.royalty_bearing
    assert royalties.exact_royalty(terms, net_sales=Decimal(10**6), units=10) == 0


def test_terms_are_read_from_the_frozen_json() -> None:
    terms = RoyaltyTerms.from_terms(
        {
            "offer": {
                "royalty_type": "hybrid",
                "upfront_fee": "50000.00",
                "royalty_rate_percent": "3.5000",
                "per_unit_fee": None,
                "minimum_annual": "20000.00",
                "currency": "CNY",
            }
        }
    )
    assert terms == RoyaltyTerms(
        RoyaltyType.hybrid,
        "CNY",
        upfront_fee=Decimal("50000.00"),
        rate_percent=Decimal("3.5"),
        minimum_annual=Decimal(20_000),
    )


def test_an_amount_beyond_the_column_is_refused() -> None:
    with pytest.raises(royalties.AmountTooLarge):
        royalties.royalty_due(per_unit(Decimal("99999999.99")), net_sales=Decimal(0), units=10**12)


def test_license_years_follow_anniversaries_and_stop_at_expiry() -> None:
    years = royalties.license_years(date(2026, 6, 15), date(2028, 9, 30))
    assert [(y.start, y.end, y.full_end) for y in years] == [
        (date(2026, 6, 15), date(2027, 6, 14), date(2027, 6, 14)),
        (date(2027, 6, 15), date(2028, 6, 14), date(2028, 6, 14)),
        (date(2028, 6, 15), date(2028, 9, 30), date(2029, 6, 14)),
    ]


def test_minimum_is_pro_rated_for_a_short_year() -> None:
    year = LicenseYear(2, date(2028, 6, 15), date(2028, 9, 30), date(2029, 6, 14))
    # 108 of 365 days of 20,000 = 5,917.808... -> 5,917.81
    assert royalties.year_minimum(Decimal(20_000), year, ended_on=None, currency="CNY") == Decimal(
        "5917.81"
    )
    assert royalties.year_minimum(
        Decimal(20_000), year, ended_on=date(2028, 6, 1), currency="CNY"
    ) == Decimal("0.00")


def test_reporting_periods_are_quarters_from_the_effective_date() -> None:
    periods = royalties.reporting_periods(
        date(2026, 1, 31), date(2026, 12, 31), months=3, until=date(2026, 9, 1)
    )
    assert periods == [
        (date(2026, 1, 31), date(2026, 4, 29)),
        (date(2026, 4, 30), date(2026, 7, 30)),
        (date(2026, 7, 31), date(2026, 10, 30)),
    ]


def test_uncovered_finds_gaps() -> None:
    period = (date(2026, 1, 1), date(2026, 3, 31))
    assert royalties.uncovered(period, [])
    assert not royalties.uncovered(period, [(date(2026, 1, 1), date(2026, 3, 31))])
    assert not royalties.uncovered(
        period, [(date(2026, 2, 1), date(2026, 4, 30)), (date(2025, 12, 1), date(2026, 1, 31))]
    )
    assert royalties.uncovered(
        period, [(date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 2), date(2026, 3, 31))]
    )


# Properties ----------------------------------------------------------------------------------


@given(net_sales=money, rate=rates, currency=currencies)
def test_rounding_is_at_most_half_a_minor_unit(
    net_sales: Decimal, rate: Decimal, currency: str
) -> None:
    terms = running(rate, currency)
    exact = royalties.exact_royalty(terms, net_sales=net_sales, units=None)
    due = royalties.royalty_due(terms, net_sales=net_sales, units=None)
    assert abs(due - exact) <= royalties.minor_unit(currency) / 2
    # ...and it is the half-up rounding, not any other within reach.
    assert due == exact.quantize(royalties.minor_unit(currency), rounding=ROUND_HALF_UP)


@given(net_sales=money, rate=rates, count=units, fee=unit_fees)
def test_royalties_are_never_negative(
    net_sales: Decimal, rate: Decimal, count: int, fee: Decimal
) -> None:
    hybrid = RoyaltyTerms(RoyaltyType.hybrid, "CNY", rate_percent=rate, per_unit_fee=fee)
    assert royalties.royalty_due(hybrid, net_sales=net_sales, units=count) >= 0
    assert royalties.royalty_due(running(rate), net_sales=net_sales, units=None) >= 0


@given(a=money, b=money, rate=rates)
def test_running_royalty_is_additive_over_sales_before_rounding(
    a: Decimal, b: Decimal, rate: Decimal
) -> None:
    terms = running(rate)
    whole = royalties.exact_royalty(terms, net_sales=a + b, units=None)
    parts = royalties.exact_royalty(terms, net_sales=a, units=None) + royalties.exact_royalty(
        terms, net_sales=b, units=None
    )
    assert whole == parts
    # Rounded per period, the parts differ from the whole by at most one minor unit.
    rounded = royalties.royalty_due(terms, net_sales=a, units=None) + royalties.royalty_due(
        terms, net_sales=b, units=None
    )
    assert abs(rounded - royalties.royalty_due(terms, net_sales=a + b, units=None)) <= Decimal(
        "0.01"
    )


@given(a=units, b=units, fee=unit_fees)
def test_per_unit_royalty_is_exactly_additive(a: int, b: int, fee: Decimal) -> None:
    terms = per_unit(fee)
    assert royalties.royalty_due(terms, net_sales=Decimal(0), units=a + b) == (
        royalties.royalty_due(terms, net_sales=Decimal(0), units=a)
        + royalties.royalty_due(terms, net_sales=Decimal(0), units=b)
    )


@given(net_sales=money, rate=rates, count=units, fee=unit_fees)
def test_hybrid_is_the_sum_of_its_parts(
    net_sales: Decimal, rate: Decimal, count: int, fee: Decimal
) -> None:
    hybrid = RoyaltyTerms(RoyaltyType.hybrid, "CNY", rate_percent=rate, per_unit_fee=fee)
    assert royalties.exact_royalty(hybrid, net_sales=net_sales, units=count) == (
        royalties.running_royalty(net_sales, rate) + royalties.per_unit_royalty(count, fee)
    )


@given(
    rate=rates,
    sales=st.lists(money.map(lambda d: d / 1000), min_size=1, max_size=6),
    currency=currencies,
)
def test_a_chain_of_corrections_adds_up_to_the_latest_royalty(
    rate: Decimal, sales: list[Decimal], currency: str
) -> None:
    terms = running(rate, currency)
    dues = [
        royalties.royalty_due(terms, net_sales=amount.quantize(Decimal("0.01")), units=None)
        for amount in sales
    ]
    charged = dues[0] + sum(
        (
            royalties.correction_amount(previous_due=before, corrected_due=after)
            for before, after in itertools.pairwise(dues)
        ),
        Decimal(0),
    )
    assert charged == dues[-1]


@given(
    minimum=money,
    royalty_steps=st.lists(money.map(lambda d: d / 100), min_size=1, max_size=8),
)
def test_minimum_shortfall_is_never_double_counted(
    minimum: Decimal, royalty_steps: list[Decimal]
) -> None:
    """However often the year's royalties change (late reports, corrections) and the shortfall
    is reconciled, the shortfall obligations add up to exactly the current shortfall."""
    minimum = minimum.quantize(Decimal("0.01"))
    charged = Decimal(0)
    royalties_so_far = Decimal(0)
    for step in royalty_steps:
        royalties_so_far += step.quantize(Decimal("0.01"))
        charged += royalties.shortfall_adjustment(
            minimum=minimum, royalties=royalties_so_far, already_charged=charged
        )
        expected = max(minimum - royalties_so_far, Decimal(0))
        assert charged == expected
        assert charged >= 0
        # Royalties and shortfall together are never less than the minimum, nor more than needed.
        assert royalties_so_far + charged == max(minimum, royalties_so_far)
    # Reconciling again with nothing new adds nothing.
    assert (
        royalties.shortfall_adjustment(
            minimum=minimum, royalties=royalties_so_far, already_charged=charged
        )
        == 0
    )


@given(
    minimum=positive_money,
    effective=days,
    length=st.integers(min_value=0, max_value=800),
    ended_after=st.one_of(st.none(), st.integers(min_value=0, max_value=800)),
)
def test_a_year_minimum_never_exceeds_the_annual_minimum(
    minimum: Decimal, effective: date, length: int, ended_after: int | None
) -> None:
    expires = effective + timedelta(days=length)
    ended_on = None if ended_after is None else effective + timedelta(days=ended_after)
    for year in royalties.license_years(effective, expires):
        share = royalties.year_minimum(minimum, year, ended_on=ended_on, currency="CNY")
        assert Decimal(0) <= share <= minimum
        if year.end == year.full_end and (ended_on is None or ended_on >= year.end):
            assert share == minimum


@given(effective=days, length=st.integers(min_value=0, max_value=3000))
def test_license_years_partition_the_term(effective: date, length: int) -> None:
    expires = effective + timedelta(days=length)
    years = royalties.license_years(effective, expires)
    assert years[0].start == effective
    assert years[-1].end == expires
    for before, after in itertools.pairwise(years):
        assert after.start == before.end + timedelta(days=1)
    for year in years:
        for day in (year.start, year.end):
            assert royalties.license_year_of(effective, day) == year.index


@given(
    effective=days,
    length=st.integers(min_value=0, max_value=3000),
    months=st.sampled_from([1, 2, 3, 4, 6, 12]),
)
def test_reporting_periods_tile_the_term_within_license_years(
    effective: date, length: int, months: int
) -> None:
    expires = effective + timedelta(days=length)
    periods = royalties.reporting_periods(effective, expires, months=months, until=expires)
    assert periods[0][0] == effective
    assert periods[-1][1] == expires
    for (_, end), (start, _) in itertools.pairwise(periods):
        assert start == end + timedelta(days=1)
    for start, end in periods:
        # A period never straddles a license year: it can be reported as one.
        assert royalties.license_year_of(effective, start) == royalties.license_year_of(
            effective, end
        )
