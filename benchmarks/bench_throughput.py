"""Throughput within reach of the machine: the real server beside a bare FastAPI app.

In one run, against one PostgreSQL, with the same uvicorn worker count:

1. a database of its own, migrated and seeded in bulk (``bench_core``'s data: universities,
   patents with IPC codes, one published listing each, verified enterprises with users), and
   its search index built (``marketplace reindex-search``);
2. the ceiling: ``benchmarks/ceiling_app.py`` answers ``SELECT 1`` through a pool — the most a
   Python API on this stack and machine can serve;
3. the real server: browse (``GET /listings?limit=20``), detail (``GET /listings/{id}``, ids
   spread over the catalogue), search (``GET /listings?q=<word>``, ten common words in turn:
   once with each worker's cache of first pages turned off, "cold", so that every request ranks
   afresh, and once with it on, "warm", as served) and acceptance
   (``POST /offers/{id}/accept`` on one offer, one request per enterprise, each
   with its own token and idempotency key);
4. for each: requests per second, p50 and p99 latency, the share of the ceiling; for
   acceptance the licenses per second from the licenses' own timestamps, with exact counts
   checked in the database (as many licenses as 201s, no licensee twice, an unbroken audit
   chain).

Load comes from ``wrk`` (Debian/Ubuntu package ``wrk``), which must be on the PATH. Figures
depend on the machine and its load: the script prints the load average before and after.

    .venv/bin/python benchmarks/bench_throughput.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_core import seed  # the same data as the core benchmark
from harness import (  # the directory of this script
    Server,
    bench_database,
    enterprise_tokens,
    free_port,
    marketplace_command,
    migrate,
    running_server,
    wait_healthy,
)

HERE = Path(__file__).resolve().parent
# Ten words that each occur in a few percent of the seeded listings' text.
SEARCH_WORDS = (
    "battery",
    "neural",
    "catalyst",
    "sensor",
    "method",
    "device",
    "system",
    "material",
    "control",
    "network",
)


@dataclass(frozen=True, slots=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    output: str
    # The server's CPU time (all workers, user + system) per answered request, when measured.
    cpu_ms: float = float("nan")


def _wrk(
    url: str,
    *,
    connections: int,
    threads: int,
    seconds: int,
    script: list[str],
    script_args: Sequence[str] = (),
    stop_when: Callable[[], bool] | None = None,
) -> Load:
    """One wrk run; ``script`` is ``["-s", path]`` or empty, its arguments follow the URL.

    ``stop_when``: asked every 0.2 s; once true, wrk is interrupted (SIGINT), and prints its
    summary for the time it ran. wrk's main thread sleeps for the whole duration even when every
    thread has stopped (``wrk.thread:stop()``): this is how a run ends when its work is done."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
        *script,
        url,
        *(["--", *script_args] if script_args else []),
    ]
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if stop_when is not None:
        while process.poll() is None and not stop_when():
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    output, errors_text = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}): {errors_text or output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    for found in re.finditer(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", output):
        if found.group(1):
            errors += int(found.group(1))
        else:
            errors += sum(int(n) for n in re.findall(r"\d+", found.group(2)))
    return Load(rate, _latency(output, "50%"), _latency(output, "99%"), errors, output)


def _latency(output: str, quantile: str) -> float:
    found = re.search(rf"{re.escape(quantile)}\s+([\d.]+)(us|ms|s)\b", output)
    if found is None:
        return float("nan")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


@contextmanager
def _ceiling_server(database_url: str, workdir: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": database_url}
    log_path = workdir / "ceiling.log"
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            [uvicorn, "ceiling_app:app", "--port", str(port), "--workers", str(workers)],
            cwd=HERE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        wait_healthy_path(server, "/ceiling")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=15)


def wait_healthy_path(server: Server, path: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.base_url + path, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"no answer from {server.base_url}{path}")


def _server_cpu_seconds(server: Server) -> float:
    """User + system CPU time of the server process and its workers so far."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [str(server.process.pid)]
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    try:
        pids += children.read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _requests(load: Load) -> int:
    found = re.search(r"(\d+) requests in", load.output)
    return int(found.group(1)) if found else 0


def _wrk_server(server: Server, url: str, **options: Any) -> Load:
    """``_wrk`` against the real server, with the server's CPU time per request."""
    before = _server_cpu_seconds(server)
    load = _wrk(url, **options)
    used = _server_cpu_seconds(server) - before
    answered = _requests(load)
    if load.errors:
        _explain_errors(server, load)
    return replace(load, cpu_ms=used / answered * 1000 if answered else float("nan"))


def _explain_errors(server: Server, load: Load) -> None:
    """What wrk counted as errors, and the server's own error lines: a socket error on a slow
    machine and a 500 are both "errors" in the table, and only the log tells them apart."""
    for line in load.output.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            print(f"  wrk: {line.strip()}")
    log = server.log_path.read_text(errors="replace").splitlines()
    failures = [line for line in log if "Traceback" in line or "ERROR" in line or '" 5' in line]
    for line in failures[-5:]:
        print(f"  server: {line[:200]}")


def _worker_memory_mib(server: Server) -> list[float]:
    """Peak resident memory of each uvicorn worker (the children of the server process)."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    found: list[float] = []
    try:
        pids = children.read_text().split()
    except OSError:
        return found
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    found.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return found


def _check_acceptance(database_url: str, offer_id: int, created: int) -> tuple[int, float]:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        count, distinct, first, last = connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT licensee_id), min(created_at), max(created_at) "
                "FROM license WHERE offer_id = :offer"
            ),
            {"offer": offer_id},
        ).one()
        gaps = connection.execute(
            sa.text("SELECT count(*) - coalesce(max(id), 0) FROM audit_event")
        ).scalar_one()
    engine.dispose()
    if count != created or distinct != count or gaps != 0:
        raise SystemExit(
            f"exact counts failed: {count} licenses, {distinct} licensees, {created} created "
            f"responses, audit chain {gaps} off"
        )
    seconds = (last - first).total_seconds() if count > 1 else float("nan")
    return count, count / seconds if seconds else float("nan")


SCENARIOS = ("browse", "detail", "search", "accept")


def _scenarios(value: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SCENARIOS)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--enterprises", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10, help="per read scenario")
    parser.add_argument(
        "--accept-timeout",
        type=int,
        default=300,
        help="the most the acceptance scenario may take (it ends when every enterprise has its "
        "answer)",
    )
    parser.add_argument(
        "--only",
        type=_scenarios,
        default=SCENARIOS,
        help=f"comma-separated scenarios to run besides the ceiling: {','.join(SCENARIOS)} "
        "(default: all)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not on the PATH (install the wrk package)")
    workdir = Path(tempfile.mkdtemp(prefix="marketplace-bench-"))
    load = os.getloadavg()
    try:
        with bench_database(args.database_url, workdir, False, name="bench_tp") as database:
            if not database.postgresql:
                raise SystemExit("error: the throughput benchmark runs on PostgreSQL")
            migrate(database.url)
            engine = sa.create_engine(database.url)
            seeded = seed(
                engine,
                argparse.Namespace(
                    patents=args.listings,
                    universities=50,
                    enterprises=args.enterprises,
                    seed=20261207,
                ),
            )
            engine.dispose()
            env = {**os.environ, "MARKETPLACE_DATABASE_URL": database.url}
            subprocess.run(  # noqa: S603 - a fixed argument list
                [marketplace_command(), "reindex-search"], env=env, check=True, cwd=workdir
            )
            print(
                f"seeded {seeded.listing_count} listings, {args.enterprises} enterprises; "
                f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
            )
            rows = _measure(args, database.url, workdir, seeded.offer_ids[0])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after = os.getloadavg()
    print(
        f"\n{'request':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'share':>9}{'errors':>8}"
        f"{'CPU ms/req':>12}"
    )
    ceiling = rows[0][1].requests_per_second
    for name, result in rows:
        share = result.requests_per_second / ceiling * 100
        print(
            f"{name:<34}{result.requests_per_second:>10.1f}{result.p50_ms:>10.1f}"
            f"{result.p99_ms:>10.1f}{share:>8.1f}%{result.errors:>8}{result.cpu_ms:>12.2f}"
        )
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    return 0


def _measure(
    args: argparse.Namespace, database_url: str, workdir: Path, offer_id: int
) -> list[tuple[str, Load]]:
    common = {"connections": args.connections, "threads": args.threads, "seconds": args.seconds}
    rows: list[tuple[str, Load]] = []
    with _ceiling_server(database_url, workdir, args.workers) as ceiling:
        rows.append(
            ("ceiling (SELECT 1)", _wrk(ceiling.base_url + "/ceiling", script=[], **common))
        )
    detail_paths = workdir / "detail.txt"
    detail_paths.write_text(
        "".join(f"/api/v1/listings/{n}\n" for n in range(1, args.listings + 1, 7))
    )
    search_paths = workdir / "search.txt"
    search_paths.write_text("".join(f"/api/v1/listings?q={word}\n" for word in SEARCH_WORDS))
    tokens = workdir / "tokens.txt"
    tokens.write_text("".join(f"{token} {offer_id}\n" for token in enterprise_tokens(database_url)))
    extra = {"MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "1000000"}
    rotate = ["-s", str(HERE / "wrk" / "rotate.lua")]
    if "search" in args.only:
        # Every request ranked afresh: the workers keep no first pages.
        cold = {**extra, "MARKETPLACE_SEARCH_RESULTS_SECONDS": "0"}
        with running_server(database_url, workdir, workers=args.workers, extra_env=cold) as server:
            wait_healthy(server)
            rows.append(
                (
                    "GET /listings?q=<word> (cold)",
                    _wrk_server(
                        server,
                        server.base_url,
                        script=rotate,
                        script_args=[str(search_paths)],
                        **common,
                    ),
                )
            )
    with running_server(database_url, workdir, workers=args.workers, extra_env=extra) as server:
        wait_healthy(server)
        base = server.base_url
        if "browse" in args.only:
            rows.append(
                (
                    "GET /listings?limit=20",
                    _wrk_server(server, f"{base}/api/v1/listings?limit=20", script=[], **common),
                )
            )
        if "detail" in args.only:
            rows.append(
                (
                    "GET /listings/{id}",
                    _wrk_server(
                        server, base, script=rotate, script_args=[str(detail_paths)], **common
                    ),
                )
            )
        if "search" in args.only:
            rows.append(
                (
                    "GET /listings?q=<word> (warm)",
                    _wrk_server(
                        server, base, script=rotate, script_args=[str(search_paths)], **common
                    ),
                )
            )
        if "accept" not in args.only:
            memory = _worker_memory_mib(server)
            print("worker peak memory (MiB): " + ", ".join(f"{m:.0f}" for m in memory))
            return rows
        accept = ["-s", str(HERE / "wrk" / "accept.lua")]
        answered = workdir / "answered"
        answered.mkdir()
        accept_args = [str(tokens), str(args.threads), uuid.uuid4().hex[:8], str(answered)]
        # Each wrk thread stops once all its acceptances are answered, and leaves a file in
        # ``answered``; when every thread has, wrk is stopped: the duration is only a bound.
        accept_run = {**common, "seconds": args.accept_timeout}
        load = _wrk(
            base,
            script=accept,
            script_args=accept_args,
            stop_when=lambda: len(list(answered.iterdir())) >= args.threads,
            **accept_run,
        )
        found = re.search(r"ACCEPT created=(\d+) replayed=\d+ other=(\d+)", load.output)
        created = int(found.group(1)) if found else 0
        if not created:
            log = server.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"no license was created; wrk said:\n{load.output}\nserver:\n{log}")
        count, rate = _check_acceptance(database_url, offer_id, created)
        rows.append(
            (
                f"POST /offers/{{id}}/accept ({count})",
                Load(rate, load.p50_ms, load.p99_ms, int(found.group(2)) if found else -1, ""),
            )
        )
        memory = _worker_memory_mib(server)
        print("worker peak memory (MiB): " + ", ".join(f"{m:.0f}" for m in memory))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
