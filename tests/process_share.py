"""Opt-in pytest plugin: how much of the suite's time is spent in tests that start a process.

``python -m pytest -p tests.process_share`` prints, at the end, the total time of the tests
whose body (setup included) started a child process through :mod:`subprocess`, against the
whole run's test time: the share issue 17 asks to keep under a quarter. Nothing is replaced:
the real ``Popen`` runs, this only notes that it was called.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

_state = {"spawned": False}
_totals = {"all": 0.0, "process": 0.0, "tests": 0, "process_tests": 0}
_by_file: dict[str, float] = {}
_original_init = subprocess.Popen.__init__


def _noting_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    _state["spawned"] = True
    _original_init(self, *args, **kwargs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _state["spawned"] = False
    subprocess.Popen.__init__ = _noting_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = _original_init  # type: ignore[method-assign]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _totals["all"] += report.duration
    if report.when == "call":
        _totals["tests"] += 1
    if _state["spawned"]:
        _totals["process"] += report.duration
        path = report.nodeid.split("::")[0]
        _by_file[path] = _by_file.get(path, 0.0) + report.duration
        if report.when == "teardown":
            _totals["process_tests"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    all_time, process = _totals["all"], _totals["process"]
    share = process / all_time if all_time else 0.0
    terminalreporter.write_sep("=", "time in tests that start a child process")
    terminalreporter.write_line(
        f"{process:.1f} s of {all_time:.1f} s ({share:.0%}) in {_totals['process_tests']} of {_totals['tests']} tests"
    )
    for path, seconds in sorted(_by_file.items(), key=lambda kv: -kv[1])[:15]:
        terminalreporter.write_line(f"  {seconds:7.1f} s  {path}")
