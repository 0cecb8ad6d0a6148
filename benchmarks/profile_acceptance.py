"""What one acceptance costs in Python: ``POST /offers/{id}/accept`` performed in process.

A database of its own (``bench_core``'s data, a few listings and as many enterprises as
acceptances), then N acceptances of one offer through the ASGI app, one enterprise each with its
own token and idempotency key, one after the other. Prints the SQL statements per acceptance and
this process's CPU milliseconds per acceptance (the database's own work runs in its server, not
here); ``--profile N`` also prints the N functions with the most cumulative CPU time under
cProfile, and the N with the most time of their own (this process's CPU time, so that waits on
the database do not count; the threadpool trips and the session's end, commit and audit
chaining included, run inline so that cProfile sees them; profiling slows the run: the CPU
figure is then the profiled one). ``--profile-out FILE`` keeps the stats for ``pstats``.

Which statements an acceptance sends depends on the offer the seed gives the first listing (a
license in force at once, or one waiting for its upfront fee), which depends on the number of
enterprises: compare runs with the same ``--acceptances`` and ``--warmup``.

    .venv/bin/python benchmarks/profile_acceptance.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --acceptances 300
"""

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from bench_core import seed  # the same data as the core benchmark
from harness import bench_database, enterprise_tokens, migrate  # the directory of this script


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite file)")
    parser.add_argument("--acceptances", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="acceptances before measuring")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--profile-out", metavar="FILE", help="also save the profile (pstats)")
    args = parser.parse_args(argv)
    enterprises = args.acceptances + args.warmup
    with (
        tempfile.TemporaryDirectory(prefix="marketplace-profile-") as workdir,
        bench_database(args.database_url, Path(workdir), False, name="bench_pa") as database,
    ):
        migrate(database.url)
        engine = sa.create_engine(database.url)
        seeded = seed(
            engine,
            argparse.Namespace(patents=50, universities=5, enterprises=enterprises, seed=20261207),
        )
        engine.dispose()
        print(f"{database.label}: {enterprises} enterprises")
        _measure(database.url, seeded.offer_ids[0], args)
    return 0


def _measure(database_url: str, offer_id: int, args: argparse.Namespace) -> None:
    os.environ["MARKETPLACE_DATABASE_URL"] = database_url
    tokens = enterprise_tokens(database_url)  # sets the secret the app below verifies with
    from marketplace.config import get_settings
    from marketplace.db import get_engine

    get_settings.cache_clear()
    get_engine.cache_clear()
    engine = get_engine()
    statements = 0

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(*args: object) -> None:
        nonlocal statements
        statements += 1
        if os.environ.get("PROFILE_SQL"):
            print(str(args[2]).replace("\n", " ")[:160])

    from marketplace.main import create_app

    if args.profile:
        # cProfile sees one thread: the app's synchronous parts run on the event loop's thread
        # (in a server they run in a thread pool, a hop this leaves out).
        import fastapi.concurrency
        import fastapi.dependencies.utils
        import fastapi.routing

        async def inline(func: Any, *a: Any, **k: Any) -> Any:
            return func(*a, **k)

        for module in (fastapi.concurrency, fastapi.dependencies.utils, fastapi.routing):
            module.run_in_threadpool = inline  # type: ignore[attr-defined]
        # The session's end too (the commit and the audit chaining after it).
        import marketplace.sessions

        async def inline_sync(func: Any, *a: Any, limiter: Any = None) -> Any:
            return func(*a)

        marketplace.sessions.anyio.to_thread.run_sync = inline_sync  # type: ignore[assignment]

    app = create_app()
    prefix = uuid.uuid4().hex[:8]
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu: list[float] = []

    async def run() -> int:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):

            async def accept(n: int) -> None:
                answer = await client.post(
                    f"/api/v1/offers/{offer_id}/accept",
                    headers={
                        "Authorization": f"Bearer {tokens[n]}",
                        "Idempotency-Key": f"{prefix}-{n}",
                    },
                )
                if answer.status_code != 201:
                    raise SystemExit(f"acceptance {n}: {answer.status_code} {answer.text}")

            for n in range(args.warmup):
                await accept(n)
            nonlocal statements
            statements = 0
            if profiler is not None:
                profiler.enable()
            for n in range(args.warmup, args.warmup + args.acceptances):
                started = time.process_time()
                await accept(n)
                cpu.append((time.process_time() - started) * 1000)
            if profiler is not None:
                profiler.disable()
            return statements

    counted = asyncio.run(run())
    print(
        f"{args.acceptances} acceptances: {counted / args.acceptances:.1f} SQL statements "
        f"each; CPU ms per acceptance: median {statistics.median(cpu):.2f}, "
        f"mean {statistics.fmean(cpu):.2f}" + (" (under cProfile)" if profiler else "")
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        if args.profile_out:
            stats.dump_stats(args.profile_out)
        stats.sort_stats("cumulative").print_stats(args.profile)
        # Where the time is spent in the functions themselves: the cumulative listing shows the
        # call paths, this one what is worth making cheaper.
        stats.sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
