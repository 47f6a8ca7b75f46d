"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measured figure next to its reference, measured in the same run."""

    bench: str
    metric: str
    value: float
    unit: str
    reference: str
    reference_value: float
    target: str = ""
    spread: tuple[float, float] | None = None  # inter-quartile range of the ratio, when paired

    @property
    def ratio(self) -> float:
        return self.value / self.reference_value if self.reference_value else float("nan")


def per_second(func: Callable[[], Any], *, seconds: float = 1.0, repeat: int = 3) -> float:
    """Best calls-per-second of *func* over *repeat* windows of about *seconds*."""
    best = 0.0
    for _ in range(repeat):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(50):
                func()
            count += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def _thread_rate(func: Callable[[], Any], seconds: float, batch: int = 20) -> float:
    count = 0
    start = time.thread_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            func()
        count += batch
        now = time.thread_time()
        if now >= deadline:
            return count / (now - start)


def paired(
    func: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    windows: int = 21,
    seconds: float = 0.05,
    batch: int = 20,
) -> tuple[float, float, float, tuple[float, float]]:
    """(rate, reference rate, median ratio, inter-quartile range of the ratios) in thread CPU time.

    The two sides alternate in short windows, so load from other processes on a shared
    machine slows both alike and cancels out of the ratio. *batch* calls are made between
    clock reads (more for microsecond-scale work).
    """
    import statistics

    rates, references, ratios = [], [], []
    for index in range(windows):
        first, second = (func, reference) if index % 2 else (reference, func)
        a, b = _thread_rate(first, seconds, batch), _thread_rate(second, seconds, batch)
        rate, ref = (a, b) if index % 2 else (b, a)
        rates.append(rate)
        references.append(ref)
        ratios.append(rate / ref)
    quartiles = statistics.quantiles(ratios, n=4)
    return statistics.median(rates), statistics.median(references), statistics.median(ratios), (quartiles[0], quartiles[2])


def wall_time(
    command: Sequence[str], *, runs: int = 15, env: dict[str, str] | None = None, cwd: str | None = None
) -> float:
    """Median wall time in seconds of running *command* (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def peak_rss_mib(command: Sequence[str]) -> float:
    """Peak resident set size (MiB) of *command* alone.

    Measured from a fresh wrapper process: RUSAGE_CHILDREN reports the largest child
    ever waited for, so measuring in this process would include earlier commands.
    """
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1024.0


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def render(rows: Sequence[Row]) -> str:
    """The Markdown table."""
    lines = [
        "| bench | metric | value | reference | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.bench} | {r.metric} | {r.value:,.3g} {r.unit} | {r.reference}: {r.reference_value:,.3g} {r.unit} "
            f"| {r.ratio:.2f}x{f' ({r.spread[0]:.2f}-{r.spread[1]:.2f})' if r.spread else ''} | {r.target} |"
        )
    return "\n".join(lines)


def save(rows: Sequence[Row], name: str = "latest") -> None:
    """Print the table and write it as JSON and Markdown into benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    table = render(rows)
    header = f"Machine: {machine()}\nCommand: {' '.join([Path(sys.executable).name, *sys.argv])}\n"
    print(header)
    print(table)
    (RESULTS / f"{name}.md").write_text(header + "\n" + table + "\n", encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"machine": machine(), "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]}, indent=2) + "\n",
        encoding="utf-8",
    )
