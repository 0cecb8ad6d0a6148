"""The caller's gates as the routes compose them."""

import inspect
import typing

import pytest

from marketplace.accounts import deps


@pytest.mark.parametrize(
    "gate",
    [
        deps.PatentsScope,
        deps.ListingsScope,
        deps.VerifiedListingsScope,
        deps.LicensesScope,
        deps.LicenseeScope,
        deps.VerifiedLicenseeScope,
        deps.PledgesScope,
        deps.VerifiedPledgesScope,
        deps.EncumbrancesScope,
    ],
)
def test_scope_gates_take_no_trip_to_the_threadpool(gate: object) -> None:
    # FastAPI runs a synchronous dependency in the threadpool: a gate that only looks at the
    # caller would cost every request a trip there and back (an acceptance included).
    dependency = typing.get_args(gate)[1].dependency
    assert inspect.iscoroutinefunction(dependency)
