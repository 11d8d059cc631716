"""Start-up benchmark against the terminal's floor (issue #15): `pos --help` and
`pos member CARD --json` each take at most 3x a bare `python -c pass`.

    .venv/bin/python bench/bench_startup.py                # 20 runs of each
    .venv/bin/python bench/bench_startup.py --runs 50

A temporary terminal is set up the way a store sets one up (`pos init` with a copy of
config.example.toml as pos.toml, then `pos enrol` for a card); each command then runs as a
fresh process, as a script or a cashier's shell runs it, and the medians are compared.
The environment is inherited: with PYTHONDONTWRITEBYTECODE set, the project's modules
are compiled from source at every start, as they are then for the terminal too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 3.0


def pos_command() -> list[str]:
    """The `pos` script installed next to this Python, else `python -m pos_agent`."""
    script = Path(sys.executable).parent / "pos"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pos_agent"]


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def median_ms(cmd: list[str], cwd: Path, runs: int) -> float:
    run(cmd, cwd)  # once first: the page cache warm, as on a terminal in use
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command")
    parser.add_argument("--dir", help="folder for the terminal (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=args.dir))
    pos = pos_command()
    try:
        shutil.copy(ROOT / "config.example.toml", folder / "pos.toml")
        os.environ.pop("POS_CONFIG", None)  # the folder's pos.toml, whatever the shell says
        run([*pos, "init", "--store", "S001", "--terminal", "T1"], folder)
        card = json.loads(run([*pos, "enrol", "--name", "X", "--phone", "0611223344",
                               "--no-print", "--json"], folder))["card_number"]
        bare = median_ms([sys.executable, "-c", "pass"], folder, args.runs)
        help_ = median_ms([*pos, "--help"], folder, args.runs)
        member = median_ms([*pos, "member", card, "--json"], folder, args.runs)
        for name, ms in (("python -c pass", bare), ("pos --help", help_),
                         (f"pos member {card} --json", member)):
            ratio = ms / bare
            verdict = "" if name.startswith("python") else (
                "ok" if ratio <= FLOOR else f"OVER the {FLOOR:g}x floor")
            print(f"  {name:<36} median {ms:7.1f} ms  {ratio:5.2f}x   {verdict}")
        print(f"bare_ms={bare:.1f} help_ms={help_:.1f} member_ms={member:.1f} "
              f"help_ratio={help_ / bare:.2f} member_ratio={member / bare:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
