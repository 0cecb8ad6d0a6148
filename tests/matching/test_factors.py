"""The factors of a need's match without a database: total-cost arithmetic, budget fit, IPC
proximity."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.listings.models import Offer, RoyaltyType
from marketplace.matching import factors
from tests.matching.helpers import offer


def cost(o: Offer, sales: str = "1000000", units: int | None = None) -> Decimal:
    return factors.estimate_total_cost(o, annual_sales=Decimal(sales), annual_units=units).total


# Total cost ------------------------------------------------------------------------------------


def test_lump_sum_costs_its_upfront_fee_whatever_the_sales() -> None:
    assert cost(offer(RoyaltyType.lump_sum, 5, upfront_fee="300000")) == Decimal("300000.00")
    assert cost(offer(RoyaltyType.lump_sum, 5, upfront_fee="300000"), "0") == Decimal("300000.00")


def test_running_royalty_is_rate_times_sales_each_year_or_the_minimum() -> None:
    assert cost(offer(RoyaltyType.running, 3, royalty_rate="3.5")) == Decimal("105000.00")
    with_minimum = offer(RoyaltyType.running, 3, royalty_rate="1", minimum_annual="20000")
    assert cost(with_minimum) == Decimal("60000.00")  # 10,000 a year is under the minimum


def test_per_unit_royalty_is_fee_times_units() -> None:
    per_unit = offer(RoyaltyType.per_unit, 2, per_unit_fee="2.50")
    assert cost(per_unit, units=10_000) == Decimal("50000.00")
    # Without expected units only the minimum (here none) can be estimated.
    assert cost(per_unit, units=None) == Decimal("0.00")


def test_hybrid_is_entry_fee_plus_running_royalty() -> None:
    hybrid = offer(RoyaltyType.hybrid, 3, upfront_fee="50000", royalty_rate="3.5")
    estimate = factors.estimate_total_cost(hybrid, annual_sales=Decimal(1_000_000), annual_units=0)
    assert estimate.total == Decimal("155000.00")
    assert estimate.upfront_fee == Decimal("50000.00")
    assert estimate.annual_royalty == Decimal("35000.00")
    assert estimate.years == 3


def test_total_is_rounded_once() -> None:
    # 0.505 a year: rounded each year it would be 3 x 0.51 = 1.53; exactly it is 1.515 -> 1.52.
    assert cost(offer(RoyaltyType.running, 3, royalty_rate="0.5"), "101") == Decimal("1.52")
    yen = offer(RoyaltyType.running, 1, royalty_rate="3.3333", currency="JPY")
    assert cost(yen, "1001") == Decimal("33.00")


@given(
    upfront=st.decimals(min_value=1, max_value=10**9, places=2),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=100, places=4),
    sales=st.decimals(min_value=0, max_value=10**10, places=2),
    years=st.integers(min_value=1, max_value=20),
)
def test_hybrid_cost_matches_the_formula(
    upfront: Decimal, rate: Decimal, sales: Decimal, years: int
) -> None:
    hybrid = offer(RoyaltyType.hybrid, years, upfront_fee=upfront, royalty_rate=rate)
    expected = (upfront + sales * rate / 100 * years).quantize(Decimal("0.01"), "ROUND_HALF_UP")
    assert cost(hybrid, str(sales)) == expected


def test_budget_fit_is_one_within_budget_and_decays_above() -> None:
    assert factors.budget_fit(Decimal(100), Decimal(100)) == 1.0
    assert factors.budget_fit(Decimal(200), Decimal(100)) == 0.5
    assert factors.budget_fit(Decimal(400), Decimal(100)) == 0.25
    assert factors.budget_fit(Decimal(400), None) == 1.0


# IPC proximity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "code", "expected"),
    [
        ("H01M 10/0525", "H01M 10/0525", 1.0),
        ("H01M 10/0525", "H01M 10/44", 0.8),
        ("H01M 10/0525", "H01M 4/00", 0.6),
        ("H01M 10/0525", "H01B 1/00", 0.4),
        ("H01M 10/0525", "H02J 7/00", 0.2),
        ("H01M 10/0525", "G06F 16/33", 0.0),
        ("H01M", "H01M 10/0525", 1.0),
        ("H01M 10", "H01M 10/44", 1.0),
        ("H01M 10", "H01M 4/00", 0.6),
        ("H", "H02J 7/00", 1.0),
    ],
)
def test_ipc_proximity_by_the_deepest_shared_level(hint: str, code: str, expected: float) -> None:
    assert factors.ipc_proximity(hint, code) == expected


def test_best_ipc_pair_is_chosen() -> None:
    value, why = factors.best_ipc_proximity(["G06F", "H01M 10/0525"], ["H01M 10/44", "A01B 1/00"])
    assert value == 0.8
    assert why == "H01M 10/44 against H01M 10/0525"
