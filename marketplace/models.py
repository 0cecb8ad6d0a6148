"""Imports every table model, so that the metadata is complete for Alembic and the tests."""

from sqlmodel import SQLModel

from marketplace import signing_keys
from marketplace.accounts import models as accounts_models
from marketplace.audit import models as audit_models
from marketplace.events import models as events_models
from marketplace.licensing import models as licensing_models
from marketplace.listings import models as listings_models
from marketplace.matching import models as matching_models
from marketplace.patents import import_models as patents_import_models
from marketplace.patents import models as patents_models
from marketplace.pledges import models as pledges_models
from marketplace.webhooks import models as webhooks_models

metadata = SQLModel.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "events_models",
    "licensing_models",
    "listings_models",
    "matching_models",
    "metadata",
    "patents_import_models",
    "patents_models",
    "pledges_models",
    "signing_keys",
    "webhooks_models",
]
