"""A sign-in flood beside ordinary requests: do `/healthz` and a listing page keep their latency
while a hundred password sign-ins (each an Argon2 hash) run at once?

Starts the real server on a database of its own, measures `/healthz` and `GET /api/v1/listings`
alone, then again while N sign-ins with distinct e-mails run in parallel (wrong passwords, so
every one is a full hash). It runs twice: with the attempt limits lifted (the admission pool and
the hashing pool alone protect the rest of the API) and with the default limits (the excess is
shed with 429). Prints medians and p95 in ms, the sign-ins' answers, and the load average.

    python benchmarks/bench_signin.py                      # SQLite in a temporary directory
    python benchmarks/bench_signin.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    API,
    bench_database,
    migrate,
    ms,
    percentile,
    running_server,
)

LIFTED = {
    "MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "1000000",
    "MARKETPLACE_SIGN_IN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE": "1000000",
    "MARKETPLACE_SIGN_IN_ATTEMPTS_PER_ADDRESS_PER_MINUTE": "1000000",
    "MARKETPLACE_SIGN_IN_ATTEMPTS_PER_MINUTE": "1000000",
}


def _probe(base_url: str, path: str, count: int) -> list[float]:
    seconds: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60.0, trust_env=False) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get(path).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return sorted(seconds)


def _flood(base_url: str, sign_ins: int, statuses: Counter[int], seconds: list[float]) -> None:
    def one(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120.0, trust_env=False) as client:
            started = time.perf_counter()
            response = client.post(
                f"{API}/auth/token",
                data={
                    "grant_type": "password",
                    "username": f"flood{n}@bench.example.cn",
                    "password": "not-the-password",
                },
            )
            seconds.append(time.perf_counter() - started)
            statuses[response.status_code] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(sign_ins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _row(label: str, values: list[float]) -> str:
    median = statistics.median(values) * 1000 if values else None
    return f"  {label:<34} median {ms(median):>8} ms   p95 {ms(_p95(values)):>8} ms"


def _p95(values: list[float]) -> float | None:
    found = percentile(sorted(values), 0.95)
    return None if found is None else found * 1000


def _scenario(name: str, base_url: str, sign_ins: int, probes: int) -> None:
    print(f"\n{name}")
    for path in ("/healthz", f"{API}/listings?limit=20"):
        print(_row(f"{path} alone", _probe(base_url, path, probes)))
    statuses: Counter[int] = Counter()
    sign_in_seconds: list[float] = []
    flood = threading.Thread(target=_flood, args=(base_url, sign_ins, statuses, sign_in_seconds))
    flood.start()
    time.sleep(0.2)  # let the sign-ins arrive first
    during: dict[str, list[float]] = {"/healthz": [], f"{API}/listings?limit=20": []}
    while flood.is_alive():
        for path in during:
            during[path].extend(_probe(base_url, path, 1))
    flood.join()
    for path, values in during.items():
        print(_row(f"{path} during the flood", values))
    answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(_row(f"{sign_ins} sign-ins ({answers})", sign_in_seconds))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--sign-ins", type=int, default=100)
    parser.add_argument("--probes", type=int, default=50, help="requests per path, alone")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="marketplace-bench-"))
    try:
        with bench_database(args.database_url, workdir, False, name="bench_signin") as database:
            print(f"database: {database.label}; load average {os.getloadavg()}")
            migrate(database.url)
            with running_server(
                database.url, workdir, extra_env=LIFTED, workers=args.workers
            ) as server:
                _scenario("attempt limits lifted", server.base_url, args.sign_ins, args.probes)
            defaults = dict.fromkeys(LIFTED, "")
            env = {k: v for k, v in os.environ.items() if k not in defaults}
            os.environ.clear()
            os.environ.update(env)
            with running_server(
                database.url,
                workdir,
                extra_env={"MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "10"},
                workers=args.workers,
            ) as server:
                _scenario("default attempt limits", server.base_url, args.sign_ins, args.probes)
            print(f"\nload average {os.getloadavg()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
