from typing import Annotated

from fastapi import Depends

from marketplace.accounts.deps import LicensesScope
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep


def _party_license(license_id: ObjectId, caller: LicensesScope, session: SessionDep) -> License:
    return licensing.get_license(session=session, license_id=license_id, caller=caller)


# The license with this id, of which the caller (with the `licenses` scope) is a party; 404
# otherwise: a foreign license is not even known to exist.
PartyLicense = Annotated[License, Depends(_party_license)]
