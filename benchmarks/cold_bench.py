"""Cold start of a one-receipt `attestkit verify` in a clean, non-editable venv, next to `python -c pass`.

The development venv's editable install and its many ``.pth`` files slow every start-up, so this
builds (once) a venv with ``pip install .`` and measures there. The two commands alternate, and
both wall time and CPU time (user + system, from ``RUSAGE_CHILDREN``) are reported: on a shared
machine CPU time moves far less with the load than wall time does.

    python -m benchmarks.cold_bench [--runs N] [--venv DIR] [--before VENV] [--profile]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import Row

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path(tempfile.gettempdir()) / "attestkit-cold-venv"


def clean_venv(venv: Path = DEFAULT_VENV, *, rebuild: bool = True) -> Path:
    """A venv holding attestkit installed from this tree, not editable; its python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        rebuild = True
    if rebuild:  # the tree may have changed since the venv was built
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        for extra in (["--force-reinstall", "--no-deps"], []):
            done = subprocess.run([*pip, *extra, str(ROOT)], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"pip install into {venv} failed:\n{done.stderr}")
    return python


def _receipt(folder: Path) -> tuple[Path, str]:
    from attestkit import PrivateKey, sign_receipt
    from benchmarks.verify_bench import typical_receipt

    key = PrivateKey.from_seed(bytes(32))
    path = folder / "receipt.json"
    path.write_text(json.dumps(sign_receipt(typical_receipt(), key), indent=2), encoding="utf-8")
    return path, key.public_key.text


def _timed(command: Sequence[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of *command*."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd="/")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _spread(ratios: list[float]) -> tuple[float, float]:
    quartiles = statistics.quantiles(ratios, n=4)
    return quartiles[0], quartiles[2]


def run(runs: int = 40, venv: Path = DEFAULT_VENV, rebuild: bool = True, before: Path | None = None) -> list[Row]:
    """Alternate `python -c pass` and a one-receipt verify *runs* times each; wall and CPU ratios of the medians.

    *before*: another venv (e.g. an older commit's ``pip install``) whose verify runs in the same rounds.
    """
    python = clean_venv(venv, rebuild=rebuild)
    exe = str(python.parent / "attestkit")
    with tempfile.TemporaryDirectory() as tmp:
        path, public = _receipt(Path(tmp))
        verify = [exe, "verify", str(path), "--public-key", public, "--now", "2026-11-20T12:00:00Z"]
        if subprocess.run(verify, capture_output=True, check=False).returncode != 0:
            raise SystemExit("the clean venv's attestkit did not verify the receipt")
        bare = [str(python), "-c", "pass"]
        for command in (bare, verify):  # warm the page cache
            _timed(command)
        floor = [str(python), "-c", "import click"]  # click stays (the issue); what it loads, verify loads
        base: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        clicks: list[tuple[float, float]] = []
        older = [str(before / "bin" / "attestkit"), *verify[1:]] if before is not None else None
        olds: list[tuple[float, float]] = []
        for _ in range(runs):
            base.append(_timed(bare))
            ours.append(_timed(verify))
            clicks.append(_timed(floor))
            if older is not None:
                olds.append(_timed(older))
    rows = []
    for index, what in ((0, "wall"), (1, "CPU")):
        theirs = [t[index] for t in base]
        for name, measured, target in (
            ("attestkit verify (1 receipt), clean venv", ours, "≤ 4.5x" if what == "wall" else ""),
            ("import click alone, clean venv", clicks, ""),
        ):
            mine = [t[index] for t in measured]
            per_pair = [m / t for m, t in zip(mine, theirs, strict=True) if t > 0]
            rows.append(
                Row(
                    "cold start",
                    f"{name}, {what}",
                    statistics.median(mine) * 1000,
                    "ms",
                    "python -c pass",
                    statistics.median(theirs) * 1000,
                    target,
                    _spread(per_pair),
                )
            )
        if olds:
            mine, older_ones = [t[index] for t in ours], [t[index] for t in olds]
            per_pair = [m / t for m, t in zip(mine, older_ones, strict=True) if t > 0]
            rows.append(
                Row(
                    "cold start",
                    f"attestkit verify (1 receipt), clean venv, {what}",
                    statistics.median(mine) * 1000,
                    "ms",
                    f"same from {before}",
                    statistics.median(older_ones) * 1000,
                    "",
                    _spread(per_pair),
                )
            )
    return rows


def profile(venv: Path = DEFAULT_VENV, runs: int = 7, top: int = 25) -> str:
    """``-X importtime`` of a one-receipt verify: the smallest self time of each module over *runs*, largest first."""
    python = venv / "bin" / "python"
    best: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, public = _receipt(Path(tmp))
        command = [str(python), "-X", "importtime", "-m", "attestkit", "verify", str(path), "--public-key", public]
        for _ in range(runs):
            err = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/").stderr
            for line in err.splitlines():
                if not line.startswith("import time:") or "self [us]" in line:
                    continue
                self_us, _, name = line.removeprefix("import time:").split("|")
                best[name.strip()] = min(best.get(name.strip(), 1 << 60), int(self_us))
    total = sum(best.values())
    groups: dict[str, int] = {}
    for name, micros in best.items():
        group = name.split(".")[0] if name.split(".")[0] in ("attestkit", "click", "nacl", "orjson") else "stdlib/other"
        groups[group] = groups.get(group, 0) + micros
    lines = [f"{len(best)} modules, {total / 1000:.1f} ms of import (smallest self time over {runs} runs)"]
    lines += [f"  {group}: {micros / 1000:.1f} ms" for group, micros in sorted(groups.items(), key=lambda g: -g[1])]
    lines += [f"  {micros / 1000:6.2f} ms  {name}" for name, micros in sorted(best.items(), key=lambda b: -b[1])[:top]]
    return "\n".join(lines)


if __name__ == "__main__":
    from benchmarks._common import save

    arguments = sys.argv[1:]
    count = int(arguments[arguments.index("--runs") + 1]) if "--runs" in arguments else 40
    where = Path(arguments[arguments.index("--venv") + 1]) if "--venv" in arguments else DEFAULT_VENV
    older = Path(arguments[arguments.index("--before") + 1]) if "--before" in arguments else None
    save(run(count, where, before=older), "cold")
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    if "--profile" in arguments:
        print("\n" + profile(where))
