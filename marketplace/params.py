"""Request parameters shared by every domain's routes.

Services use ``MAX_ID`` in commands and jobs that never load the web framework, so ``ObjectId``
(a FastAPI path parameter) is made when a router first imports it."""

from typing import TYPE_CHECKING, Annotated, Any

# Ids are 32-bit serials: anything larger cannot exist, and would overflow the database's integer.
MAX_ID = 2**31 - 1

if TYPE_CHECKING:
    # For the type checker an int; at run time an int with FastAPI's path constraints.
    ObjectId = int
else:

    def __getattr__(name: str) -> Any:
        if name != "ObjectId":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from fastapi import Path

        object_id = Annotated[int, Path(ge=1, le=MAX_ID, description="Object id.", examples=[1])]
        globals()[name] = object_id
        return object_id
