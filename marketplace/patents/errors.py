from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound, Unprocessable


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


class ImportJobNotFound(NotFound):
    default_code = "import_not_found"
    title = "Import not found"


class InvalidImportFile(Unprocessable):
    """The file as a whole cannot be read: empty, an unknown format, a wrong CSV header."""

    default_code = "invalid_import_file"
    title = "The import file cannot be read"


class ImportFileTooLarge(MarketplaceError):
    status_code = 413
    default_code = "import_file_too_large"
    title = "Import file too large"
