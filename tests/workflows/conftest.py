"""A workflow spans domains, so its tests use the parties and builders of those domains' tests."""

from tests.pledges.conftest import bank, other_bank, owner, pledge_of

__all__ = ["bank", "other_bank", "owner", "pledge_of"]
