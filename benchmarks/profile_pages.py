"""What the browse, detail and search pages cost in Python: ``GET /listings?limit=20``,
``GET /listings/{id}`` and ``GET /listings?q=<word>`` performed in process, anonymously, as the
throughput benchmark asks them (search "cold": the cache of first pages off, so that every
request ranks afresh; the throughput benchmark's ten words in turn; with ``--warm`` the cache
on, as the throughput benchmark's warm search: the ranking mostly comes from it, and what is
measured is mostly the response page, built afresh each time).

A database of its own (``bench_core``'s data: one published listing per patent, its search
index built), or with ``--existing-url`` one a previous run kept (``--keep``); then N requests
of each page through the ASGI app, one after the other (detail ids spread over the catalogue).
Prints this process's CPU milliseconds per page, all threads (the database's own work runs in
its server, not here; the threadpool hops of synchronous dependencies count); ``--profile N``
also prints the N functions with the most cumulative CPU time under cProfile, with the
synchronous parts run inline (profiling slows the run: the CPU figure is then the profiled one).

    .venv/bin/python benchmarks/profile_pages.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --requests 500
"""

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from bench_core import seed  # the same data as the core and throughput benchmarks
from bench_throughput import SEARCH_WORDS  # the throughput benchmark's words
from harness import bench_database, marketplace_command, migrate  # this script's directory

PAGES = ("browse", "detail", "search")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite file)")
    parser.add_argument(
        "--existing-url", help="a database seeded by an earlier run with --keep (not seeded again)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=500, help="per page")
    parser.add_argument("--warmup", type=int, default=50, help="requests of each page first")
    parser.add_argument("--rounds", type=int, default=3, help="the pages in turn, this often")
    parser.add_argument("--only", default=",".join(PAGES), help="browse,detail,search")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight at once (threads)"
    )
    parser.add_argument(
        "--warm", action="store_true", help="search with the cache of first pages on"
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--dump", metavar="FILE", help="with --profile: write the pstats here")
    args = parser.parse_args(argv)
    args.only = tuple(name for name in args.only.split(",") if name)
    if not set(args.only) <= set(PAGES):
        parser.error(f"--only: choose from {', '.join(PAGES)}")
    if args.existing_url:
        _measure(args.existing_url, args)
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="marketplace-profile-") as workdir,
        bench_database(args.database_url, Path(workdir), args.keep, name="bench_pp") as database,
    ):
        migrate(database.url)
        engine = sa.create_engine(database.url)
        seed(
            engine,
            argparse.Namespace(
                patents=args.listings, universities=50, enterprises=10, seed=20261207
            ),
        )
        engine.dispose()
        subprocess.run(  # noqa: S603 - a fixed argument list
            [marketplace_command(), "reindex-search"],
            env={**os.environ, "MARKETPLACE_DATABASE_URL": database.url},
            check=True,
            cwd=workdir,
        )
        print(f"{database.label}: {args.listings} listings")
        _measure(database.url, args)
    return 0


def _measure(database_url: str, args: argparse.Namespace) -> None:
    os.environ["MARKETPLACE_DATABASE_URL"] = database_url
    if not args.warm:
        os.environ["MARKETPLACE_SEARCH_RESULTS_SECONDS"] = "0"  # every search ranks afresh
    from marketplace.config import get_settings
    from marketplace.db import get_engine

    get_settings.cache_clear()
    get_engine.cache_clear()
    engine = get_engine()
    with engine.connect() as connection:
        listing_ids = connection.execute(
            sa.text("SELECT id FROM listing WHERE status = 'published' ORDER BY id")
        ).scalars()
        spread = list(listing_ids)[::7]
    if args.profile:
        # cProfile sees one thread: the app's synchronous parts run on the event loop's thread
        # (in a server they run in a thread pool, a hop this leaves out).
        import fastapi.concurrency
        import fastapi.dependencies.utils
        import fastapi.routing
        import starlette.concurrency

        async def inline(func: Any, *a: Any, **k: Any) -> Any:
            return func(*a, **k)

        for module in (
            fastapi.concurrency,
            fastapi.dependencies.utils,
            fastapi.routing,
            starlette.concurrency,
        ):
            module.run_in_threadpool = inline  # type: ignore[attr-defined]
        import marketplace.accounts.deps

        marketplace.accounts.deps.run_in_threadpool = inline  # type: ignore[attr-defined]

    from marketplace.main import create_app

    app = create_app()
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu: dict[str, list[float]] = {name: [] for name in args.only}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):

            def path(name: str, n: int) -> str:
                if name == "browse":
                    return "/api/v1/listings?limit=20"
                if name == "search":
                    return f"/api/v1/listings?q={SEARCH_WORDS[n % len(SEARCH_WORDS)]}"
                return f"/api/v1/listings/{spread[n % len(spread)]}"

            async def get(url: str) -> None:
                answer = await client.get(url)
                if answer.status_code != 200:
                    raise SystemExit(f"{url}: {answer.status_code} {answer.text[:300]}")

            for name in args.only:
                for n in range(args.warmup):
                    await get(path(name, n))
            for _ in range(args.rounds):
                for name in args.only:
                    if profiler is not None:
                        profiler.enable()
                    started = time.process_time()
                    for start in range(0, args.requests, args.concurrency):
                        await asyncio.gather(
                            *(
                                get(path(name, n))
                                for n in range(start, min(start + args.concurrency, args.requests))
                            )
                        )
                    cpu[name].append((time.process_time() - started) * 1000 / args.requests)
                    if profiler is not None:
                        profiler.disable()

    asyncio.run(run())
    for name in args.only:
        # On a shared machine other processes slow a round down, never speed it up: the
        # fastest round is the steadiest figure of what a page costs.
        label = "search (warm)" if name == "search" and args.warm else name
        print(
            f"{label:<7} CPU ms per page: median {statistics.median(cpu[name]):.2f}, "
            f"fastest round {min(cpu[name]):.2f} ({args.rounds} rounds of {args.requests})"
            + (" (under cProfile)" if profiler else "")
        )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        if args.dump:
            profiler.dump_stats(args.dump)
        print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
