"""Use cases that span domains, one function each, above every domain package.

A workflow reads top to bottom: it calls single-domain services in the caller's session and never
commits (the request's session, or the command's unit of work, commits once), so a use case is
one transaction. Routers and the CLI call workflows or single-domain services, nothing else;
domain packages never import this package.
"""
