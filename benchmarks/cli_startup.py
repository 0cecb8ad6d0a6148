"""Figures for the command line's start-up: the import time of ``marketplace --help``,
``marketplace audit verify`` and ``marketplace sweep``.

What it does, in order:

1. creates a temporary SQLite database and applies the migrations (not measured);
2. runs each command RUNS times as ``python -X importtime -c <run the CLI> ARGS`` against that
   database, and sums the cumulative time of every top-level import of the run: the command's
   own imports included (those it makes when it starts working), the interpreter's start-up
   (``python -X importtime -c pass``, measured the same way) subtracted;
3. prints, per command, the median, min and max of those sums, the median wall time and CPU
   time (user + system) of the whole process, and the load average before and after. The CPU
   time moves less than the wall-clock figures when other work shares the machine.

Usage (from the project root)::

    .venv/bin/python benchmarks/cli_startup.py            # 7 runs per command
    .venv/bin/python benchmarks/cli_startup.py --runs 11

It only runs the command line, so the same script measures an older checkout too (before a
change). On a shared machine the load average says how far to trust the figures; the import
time is wall time, so a busy machine inflates it.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "audit verify": ["audit", "verify"],
    "sweep": ["sweep"],
}
RUN_CLI = "import sys; from marketplace.cli import app; sys.argv[0] = 'marketplace'; app()"
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)\S")


def top_level_import_seconds(stderr: str) -> float:
    """The sum of the cumulative times of the imports at the top level (not nested in others)."""
    total = 0
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and not match.group(2):
            total += int(match.group(1))
    return total / 1_000_000


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """One run: top-level import seconds, wall and CPU seconds of the whole process."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-X", "importtime", "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if finished.returncode not in (0,):
        raise SystemExit(f"{args} exited with {finished.returncode}:\n{finished.stderr[-2000:]}")
    return top_level_import_seconds(finished.stderr), wall, _children_cpu() - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (median taken).")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        env = {
            **os.environ,
            "MARKETPLACE_DATABASE_URL": f"sqlite:///{Path(directory) / 'startup.db'}",
            "MARKETPLACE_SECRET_KEY_FILE": str(Path(directory) / "secret"),
            "COLUMNS": "100",
        }
        subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-c", RUN_CLI, "migrate"], env=env, check=True, capture_output=True
        )
        load_before = os.getloadavg()
        interpreter = statistics.median(run("pass", [], env)[0] for _ in range(options.runs))
        print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f}")
        print(f"interpreter start-up imports (subtracted): {interpreter * 1000:.0f} ms")
        print(
            f"{'command':<14} {'import median':>14} {'min':>8} {'max':>8} "
            f"{'wall median':>12} {'cpu median':>11}"
        )
        for name, args in COMMANDS.items():
            runs = [run(RUN_CLI, args, env) for _ in range(options.runs)]
            imports = [max(seconds - interpreter, 0.0) for seconds, _, _ in runs]
            walls = [wall for _, wall, _ in runs]
            cpus = [cpu for _, _, cpu in runs]
            print(
                f"{name:<14} {statistics.median(imports) * 1000:>11.0f} ms "
                f"{min(imports) * 1000:>5.0f} ms {max(imports) * 1000:>5.0f} ms "
                f"{statistics.median(walls):>10.2f} s {statistics.median(cpus):>9.2f} s"
            )
        load_after = os.getloadavg()
        print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f}")


if __name__ == "__main__":
    main()
