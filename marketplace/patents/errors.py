from marketplace.errors import Conflict, Forbidden, NotFound, Unprocessable


class PatentNotFound(NotFound):
    default_code = "patent_not_found"
    title = "Patent not found"


class PatentAlreadyRegistered(Conflict):
    default_code = "patent_already_registered"
    title = "Patent already registered"


class NotPatentOwnerKind(Forbidden):
    default_code = "organization_cannot_own_patents"
    title = "This kind of organization does not register patents"


class InvalidPatentUpdate(Unprocessable):
    default_code = "invalid_patent_update"
    title = "Invalid patent update"


class EncumbranceNotFound(NotFound):
    default_code = "encumbrance_not_found"
    title = "Encumbrance not found"


class OpenLicenseInForce(Conflict):
    default_code = "open_license_in_force"
    title = "An open license is in force"
