"""The HTML audit report at 100,000 receipts: file size, time to write it, and load/filter/sort in Chromium.

``python -m benchmarks.html_bench [--count N]`` (default 100,000; needs Debian's ``chromium``);
``--rss``: peak memory of ``verify --format html`` at 2,000 and 20,000 receipts instead.
References, measured in the same run: ``verify --json`` on the same receipts (time and size of
the JSON Lines it writes), and the report of 1,000 receipts opened in the same browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, save
from benchmarks.verify_bench import typical_receipt

NOW = "2026-11-20T12:00:00Z"


def _jsonl(path: Path, count: int) -> list[str]:
    """*count* receipts from 2 keys over 30 days; every 10th has a failed step, every 50th a bad signature."""
    from attestkit import PrivateKey, sign_receipt

    keys = [PrivateKey.from_seed(bytes([n]) * 32) for n in (1, 2)]
    distinct = []
    for n in range(200):
        receipt = typical_receipt()
        receipt["timestamp"] = f"2026-10-{1 + n % 30:02d}T{n % 24:02d}:00:00Z"
        if n % 10 == 0:
            receipt["steps"][0]["exit_code"] = 1
        signed = sign_receipt(receipt, keys[n % 2])
        if n % 50 == 1:
            signed["total_duration_secs"] = 1.5
        distinct.append(json.dumps(signed) + "\n")
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(count):
            handle.write(distinct[n % len(distinct)])
    return [k.public_key.text for k in keys]


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _in_page_ms(browser: object, action: str) -> float:
    """Milliseconds an action takes in the page, until the next frame has been drawn."""
    from tests.chromium import Browser

    assert isinstance(browser, Browser)
    script = (
        "new Promise(function (done) { var t0 = performance.now(); " + action + ";"
        " requestAnimationFrame(function () { done(performance.now() - t0); }); })"
    )
    return float(browser.evaluate(script))


def _load_ms(browser: object, path: Path) -> float:
    """Navigation until the report's script has drawn the table and the timeline."""
    from tests.chromium import Browser

    assert isinstance(browser, Browser)
    seconds = browser.load(path)
    assert browser.evaluate("document.body.dataset.ready") == "true", browser.problems()
    return seconds * 1000


def run(count: int = 100_000) -> list[Row]:
    from tests.chromium import Browser, chromium_path

    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big, small = folder / "big.jsonl", folder / "small.jsonl"
        keys = _jsonl(big, count)
        _jsonl(small, 1_000)
        base = [exe, "verify", "--public-key", keys[0], "--public-key", keys[1], "--now", NOW,
                "--policy", "steps-succeeded"]  # fmt: skip
        html_s = _timed([*base, "--jsonl", str(big), "--format", "html", "-o", str(folder / "big.html")])
        json_s = _timed([*base, "--jsonl", str(big), "--json", "-o", str(folder / "big.jsonl.out")])
        _timed([*base, "--jsonl", str(small), "--format", "html", "-o", str(folder / "small.html")])
        size = (folder / "big.html").stat().st_size / 2**20
        json_size = (folder / "big.jsonl.out").stat().st_size / 2**20
        rows.append(Row("html", f"verify {count:,} receipts --format html", html_s, "s", "--json", json_s))
        rows.append(Row("html", f"report file, {count:,} receipts", size, "MiB", "--json output", json_size))
        chromium = chromium_path()
        if chromium is None:
            print("chromium not installed: browser figures skipped (apt-get install chromium)", file=sys.stderr)
            return rows
        with Browser(chromium, width=1400, height=1000, timeout=300) as browser:
            small_ms = min(_load_ms(browser, folder / "small.html") for _ in range(3))
            big_ms = min(_load_ms(browser, folder / "big.html") for _ in range(3))
            rows.append(Row("html", f"Chromium load, {count:,} receipts", big_ms, "ms", "1,000 receipts", small_ms,
                            "usable: no freeze"))  # fmt: skip
            drawn = browser.evaluate("document.querySelectorAll('#row-body tr').length")
            print(f"table rows in the DOM after load: {drawn} (of {count:,})", file=sys.stderr)
            verdict = "var s = document.getElementById('filter-verdict'); s.value = '1'; s.dispatchEvent(new Event('change'))"
            sort = "document.querySelector('.table-head th[data-col=\"5\"]').click()"
            scroll = "document.getElementById('viewport').scrollTop += 27 * 5000; document.getElementById('viewport').dispatchEvent(new Event('scroll'))"
            filter_ms = _in_page_ms(browser, verdict)
            sort_ms = _in_page_ms(browser, sort)
            scroll_ms = _in_page_ms(browser, scroll)
            text = "var t = document.getElementById('filter-text'); t.value = 'big.jsonl:9999'; t.dispatchEvent(new Event('change')); document.getElementById('filter-verdict').dispatchEvent(new Event('change'))"
            search_ms = _in_page_ms(browser, text)
            frame_ms = _in_page_ms(browser, "0")
            rows.append(Row("html", "filter by verdict", filter_ms, "ms", "one empty frame", frame_ms))
            rows.append(Row("html", "sort by timestamp", sort_ms, "ms", "one empty frame", frame_ms))
            rows.append(Row("html", "text search (first, builds the index)", search_ms, "ms", "one empty frame", frame_ms))
            rows.append(Row("html", "scroll 5,000 rows", scroll_ms, "ms", "one empty frame", frame_ms))
            problems = browser.problems()
            if problems:
                print("browser problems:", problems, file=sys.stderr)
    return rows


def _peak_rss_mib(command: list[str]) -> float:
    """Peak RSS of *command* alone, whatever its exit code (a run with invalid receipts exits 1)."""
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1024.0


def run_rss() -> list[Row]:
    """The report holds every row until it is written: memory grows with the run (JSON Lines to -o too)."""
    exe = shutil.which("attestkit", path=str(Path(sys.executable).parent)) or "attestkit"
    found: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (2_000, 20_000):
            source = Path(tmp) / f"{count}.jsonl"
            keys = _jsonl(source, count)
            base = [exe, "verify", "--public-key", keys[0], "--public-key", keys[1], "--now", NOW,
                    "--policy", "steps-succeeded", "--jsonl", str(source)]  # fmt: skip
            found["html", count] = _peak_rss_mib([*base, "--format", "html", "-o", str(Path(tmp) / "r.html")])
            found["json", count] = _peak_rss_mib([*base, "--json", "-o", str(Path(tmp) / "r.jsonl")])
    return [
        Row("html", "peak RSS, --format html, 20,000 receipts", found["html", 20_000], "MiB", "2,000 receipts",
            found["html", 2_000]),
        Row("html", "peak RSS, --format html, 20,000 receipts", found["html", 20_000], "MiB", "--json -o, 20,000",
            found["json", 20_000]),
    ]  # fmt: skip


def main() -> None:
    if "--rss" in sys.argv:
        save(run_rss(), "html-rss")
        return
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 100_000
    save(run(count), "html")


if __name__ == "__main__":
    main()
