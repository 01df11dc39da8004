"""Peak memory of ``selma3d leaderboard`` against the number of teams.

Usage::

    .venv/bin/python benchmarks/leaderboard_memory.py [--teams 250 500 1000 2000] [--cases 2]

For each team count a fresh process generates a results table (``--cases`` cases split between
the vessel and spot tracks, metrics drawn around a per-team skill, as in
``benchmarks/bootstrap_speed.py``), builds the whole leaderboard (ranking, bootstrap, CSV, JSON,
Markdown, the HTML report with its plots) into a temporary folder under the default profile, and
reports its peak resident memory (``ru_maxrss``) and the same process's memory before the build
(interpreter, libraries, table). Printed per count: both, the build's own share (peak minus
before), and the ratios of the peaks and of the build's shares against the smallest count
measured in the same run beside the ratio of team counts: linear growth keeps the build's ratio
near the teams' ratio. Target: 2,000 teams x 2 cases under 1 GB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGET_TEAMS = 2000
TARGET_BYTES = 1 << 30

_CHILD = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from benchmarks.bootstrap_speed import results_table
from leaderboard import RankingConfig, build_leaderboard

teams, cases, out = {teams}, {cases}, Path({out!r})
table = results_table(teams, cases, 2026)
table["team"] = [f"team{{i:05d}}" for i in range(teams)] * cases
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
build_leaderboard(table, out, config=RankingConfig(), progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"before_kib": before, "peak_kib": peak}}))
"""


def measure(teams: int, cases: int) -> dict[str, int]:
    """Peak and before-build memory (KiB) of one fresh process building one leaderboard."""
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="selma3d-leaderboard-memory-") as tmp:
        code = _CHILD.format(root=root, teams=teams, cases=cases, out=str(Path(tmp) / "board"))
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"{teams} teams: the build failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--cases", type=int, default=2)
    args = parser.parse_args()
    counts = sorted(args.teams)
    console = Console()
    table = Table(title=f"leaderboard peak memory, {args.cases} cases per team")
    for column in ("teams", "before build", "peak", "build", "teams ratio", "peak ratio",
                   "build ratio"):
        table.add_column(column, justify="right")
    first: dict[str, int] | None = None
    verdict = ""
    for n in counts:
        m = measure(n, args.cases)
        first = first or m
        build, build0 = m["peak_kib"] - m["before_kib"], first["peak_kib"] - first["before_kib"]
        console.print(
            f"{n} teams: peak {m['peak_kib'] / 1024:.0f} MiB "
            f"(build {build / 1024:.0f} MiB, {build / max(build0, 1):.2f}x the first's)",
            highlight=False,
        )
        table.add_row(
            str(n),
            f"{m['before_kib'] / 1024:.0f} MiB",
            f"{m['peak_kib'] / 1024:.0f} MiB",
            f"{build / 1024:.0f} MiB",
            f"{n / counts[0]:.1f}x",
            f"{m['peak_kib'] / first['peak_kib']:.2f}x",
            f"{build / max(build0, 1):.2f}x",
        )
        if n == TARGET_TEAMS and args.cases == 2:
            ok = m["peak_kib"] * 1024 < TARGET_BYTES
            verdict = (
                f"target {TARGET_TEAMS} teams x 2 cases under 1 GiB: "
                f"{'met' if ok else 'NOT met'} ({m['peak_kib'] / 1024:.0f} MiB)"
            )
    console.print(table)
    if verdict:
        console.print(verdict)


if __name__ == "__main__":
    main()
