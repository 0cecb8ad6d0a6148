"""Request parameters shared by every domain's routes."""

from typing import Annotated

from fastapi import Path

# Ids are 32-bit serials: anything larger cannot exist, and would overflow the database's integer.
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="Object id.", examples=[1])]
