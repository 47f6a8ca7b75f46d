"""Review of the shared tree walk (issue 20.4): a helper must not outlive its parent.

``attestkit hash DIR`` on a large tree forks helpers that carry on the same walk. When the
command itself is ended by a signal it cannot answer (SIGTERM sent to its pid alone, as
``subprocess.Popen.terminate()`` or a supervisor does; SIGKILL; the OOM killer), the helpers
were left running: re-parented, they went on opening and reading the whole rest of the tree
for an answer nobody would read (CPU and I/O after a cancelled job, descriptors held open
on the tree). A helper now notices that its parent is gone before each file it hashes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attestkit.core.crypto import digest as digest_module
from tests.unit.crypto.test_tree_split import _same_command as _helpers_of

pytestmark = pytest.mark.slow  # kills parents and waits for their helpers

FORK_AFTER = digest_module._FORK_AFTER


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_helper_does_not_outlive_a_killed_parent(tmp_path: Path, signum: int) -> None:
    root = tmp_path / f"orphan-tree-{signum}"
    (root / "a").mkdir(parents=True)
    (root / "z").mkdir()
    for i in range(FORK_AFTER + 100):  # the fork happens among these small files
        (root / "a" / f"f{i:05d}").write_bytes(b"x" * 100)
    for i in range(200):  # then a long share for the helper: sparse files (no disk used), 128 MiB each
        with open(root / "z" / f"s{i:03d}", "wb") as handle:
            handle.truncate(128 << 20)
    proc = subprocess.Popen([sys.executable, "-m", "attestkit", "hash", str(root)], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_helpers_of(str(root))) < 2:  # wait until a helper exists
            time.sleep(0.005)
        assert len(_helpers_of(str(root))) >= 2, "no helper was forked (the test needs a shared walk)"
        proc.send_signal(signum)
        proc.wait(timeout=30)
        assert proc.returncode == -signum
        deadline = time.monotonic() + 4  # a helper may finish the 128 MiB file it is reading, no more
        while time.monotonic() < deadline and _helpers_of(str(root)):
            time.sleep(0.05)
        assert not _helpers_of(str(root)), "a helper went on walking the tree after its parent was killed"
    finally:
        proc.kill()
        proc.wait()
        for pid in _helpers_of(str(root)):
            os.kill(pid, signal.SIGKILL)
