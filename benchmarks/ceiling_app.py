"""The ceiling: the least a FastAPI app on this stack can do per request, one ``SELECT 1``
through a pooled connection, served by the same uvicorn and worker count as the real server.
``bench_throughput.py`` runs it beside the real server and quotes every figure as a share of it.

    MARKETPLACE_DATABASE_URL=... uvicorn benchmarks.ceiling_app:app --workers 2
"""

import os

import sqlalchemy as sa
from fastapi import FastAPI

engine = sa.create_engine(
    os.environ["MARKETPLACE_DATABASE_URL"], pool_size=10, max_overflow=7, pool_pre_ping=True
)
app = FastAPI()


@app.get("/ceiling")
def ceiling() -> dict[str, int]:
    with engine.connect() as connection:
        return {"one": int(connection.execute(sa.text("SELECT 1")).scalar_one())}
