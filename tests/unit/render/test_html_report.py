"""The HTML audit report: escaping of hostile receipts, counts, and behaviour in a real Chromium."""

from __future__ import annotations

import html.parser
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.render.html_report import (
    KeyEvent,
    Material,
    ReportContext,
    ReportRow,
    render_html,
    row_of_result,
    script_json,
)
from attestkit.core.textsafe import escape_text
from attestkit.core.verify.result import Check
from tests.chromium import Browser, chromium_path
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

HOSTILE = "<script>alert(1)</script></td></tr><img src=x onerror=alert(2)>\x1b[32mVALID\r\u202e\x00&amp;\"'"
ROOT = Path(__file__).resolve().parents[3]


class _Shape(html.parser.HTMLParser):
    """The element structure of a document, and the raw text of its script elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self._script_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "script":
            self._in_script, self._script_text = dict(attrs), ""

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, self._script_text))
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._script_text += data


def _shape(document: str) -> _Shape:
    parser = _Shape()
    parser.feed(document)
    parser.close()
    return parser


def _row(text: str, verdict: str = "invalid") -> ReportRow:
    check = Check(text, False, text, text)
    return ReportRow(text, verdict, text, signer=text, key_id=text, timestamp=text, failed=(check,))


def _context(text: str) -> ReportContext:
    return ReportContext(
        command=["attestkit", "verify", text],
        generated_at=datetime(2026, 11, 20, 12, tzinfo=timezone.utc),
        material=[Material(text, text, text)],
        key_events=[KeyEvent(text, "revoked", datetime(2026, 11, 1, tzinfo=timezone.utc), text)],
        key_identities={text: text},
        title="attestkit verify",
    )


def _data(document: str) -> dict[str, Any]:
    scripts = _shape(document).scripts
    (data,) = [text for attrs, text in scripts if attrs.get("type") == "application/json"]
    value: dict[str, Any] = json.loads(data)
    return value


def test_hostile_values_in_every_field_stay_text() -> None:
    benign = render_html([_row("plain")], _context("plain"))
    hostile = render_html([_row(HOSTILE)], _context(HOSTILE))
    # Same elements in the same order: nothing in a value became markup.
    assert _shape(hostile).tags == _shape(benign).tags
    scripts = _shape(hostile).scripts
    assert len(scripts) == 2 and scripts[0][0] == {"type": "application/json", "id": "report-data"}
    assert "<" not in scripts[0][1] and ">" not in scripts[0][1] and "&" not in scripts[0][1]
    assert "\x1b" not in hostile and "\r" not in hostile and "\u202e" not in hostile and "\x00" not in hostile
    shown = escape_text(HOSTILE)
    row = _data(hostile)["rows"][0]
    assert row[0] == shown and row[3] == shown and row[6][0][2] == shown
    assert _data(hostile)["events"][0][0] == shown and _data(hostile)["identities"] == {shown: shown}


@settings(max_examples=150)
@given(st.text())
def test_any_text_in_any_field_keeps_the_layout(text: str) -> None:
    document = render_html([_row(text)], _context(text))
    assert _shape(document).tags == _shape(render_html([_row("x")], _context("x"))).tags
    document.encode("utf-8")  # lone surrogates from undecodable file names are escaped, never raised on
    assert _data(document)["rows"][0][0] == escape_text(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_script_json_round_trips_and_cannot_close_the_element(value: Any) -> None:
    text = script_json(value)
    assert json.loads(text) == value
    assert "<" not in text


def test_csp_forbids_everything_but_the_one_script() -> None:
    document = render_html([_row("a")], _context("a"))
    import base64
    import hashlib
    import re

    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', document)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    code = next(text for attrs, text in _shape(document).scripts if "type" not in attrs)
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert not re.search(r"(src|href)=\"?(https?:|//)", document), "a reference to something outside the file"


def test_timestamp_comes_back_exactly_from_the_age(key: PrivateKey) -> None:
    from attestkit.core.timeutil import parse_rfc3339
    from attestkit.core.trust.store import TrustStore
    from attestkit.core.verify.verifier import VerifyOptions, verify_document

    now = parse_rfc3339(NOW)
    for stamp in ("2026-11-20T10:00:00Z", "2024-02-29T23:59:59.123456Z", "2026-11-20T14:00:00.5+02:00"):
        receipt = sign_receipt(make_receipt(timestamp=stamp), key)
        result = verify_document(receipt, VerifyOptions(trusted=TrustStore.of([key.public_key]), now=now), source="r")
        assert parse_rfc3339(row_of_result(result, now).timestamp or "") == parse_rfc3339(stamp)


# ---- through the CLI ----------------------------------------------------------------------


def _hostile_run(tmp_path: Path, key: PrivateKey, other_key: PrivateKey) -> tuple[list[str], Path]:
    """Receipts with hostile text wherever a receipt or a file name can put it, and a keyring."""
    name = "<script>alert(1)<img src=x onerror=alert(3)>\x1b[31m\u202e.json"
    bad = make_receipt(signer=HOSTILE)
    bad["steps"][0]["exit_code"] = 3
    bad["steps"][0]["name"] = HOSTILE
    write_json(tmp_path / name, sign_receipt(bad, key))
    write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    write_json(tmp_path / "stranger.json", sign_receipt(make_receipt(), other_key))
    (tmp_path / "broken.json").write_text('{"timestamp": "</td><script>', encoding="utf-8")
    ring = tmp_path / "ring.yaml"
    ring.write_text(
        f"version: 1\nkeys:\n  - public_key: {key.public_key.text}\n"
        f"    not_before: 2026-01-01T00:00:00Z\n    revoked_at: 2026-12-01T00:00:00Z\n    reason: superseded\n",
        encoding="utf-8",
    )
    args = ["verify", name, "good.json", "stranger.json", "broken.json", "missing.json",
            "--trusted-keys-file", "ring.yaml", "--policy", "steps-succeeded", "--now", NOW]  # fmt: skip
    return args, ring


def test_cli_writes_the_report_atomically_with_counts(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    args, ring = _hostile_run(tmp_path, key, other_key)
    result = cli(*args, "--format", "html", "-o", "report.html")
    assert result.code == 2, result.err  # missing.json could not be checked
    assert "Traceback" not in result.err
    document = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="count-total">5<' in document and 'id="count-valid">1<' in document
    assert 'id="count-invalid">3<' in document and 'id="count-error">1<' in document
    assert "policy/steps-succeeded" in document and "trust/untrusted-key" in document and "input/" in document
    from attestkit.core.crypto.digest import hash_file

    assert hash_file(ring) in document  # the trust material, by digest
    rows = _data(document)["rows"]
    assert [r[1] for r in rows] == [1, 0, 1, 1, 2]
    assert rows[1][5] == "2026-11-20T10:00:00Z" and rows[1][4] == key.public_key.key_id
    assert _data(document)["events"][-1][1] == "revoked"
    tags = _shape(document).tags
    assert "img" not in tags and tags.count("script") == 2


def test_cli_html_output_failures_are_one_line_and_leave_no_file(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    result = cli(
        "verify", "good.json", "--public-key", key.public_key.text, "--format", "html", "-o", "no/such/dir/r.html"
    )
    assert result.code == 2
    assert_one_line_error(result)
    assert not (tmp_path / "no").exists()
    result = cli("verify", "good.json", "--format", "html", "-o", "r.html")  # no trusted key: usage error
    assert result.code == 2 and not (tmp_path / "r.html").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "good.json"]


def test_cli_html_to_stdout_and_exit_codes(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    result = cli("verify", "good.json", "--public-key", key.public_key.text, "--now", NOW, "--format", "html")
    assert result.code == 0 and result.out.startswith("<!DOCTYPE html>") and result.out.endswith("</html>\n")


# ---- in a real browser --------------------------------------------------------------------


def _artifacts() -> Path:
    folder = Path(os.environ.get("ATTESTKIT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Any:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with Browser(executable) as opened:
        yield opened


_TEXTS = """Array.from(document.querySelectorAll('#row-body tr')).map(function (tr) {
  return Array.from(tr.children).map(function (td) { return td.textContent; }); })"""


def _set(browser: Browser, selector: str, value: str, event: str) -> None:
    browser.evaluate(
        f"(function () {{ var e = document.querySelector({json.dumps(selector)}); e.value = {json.dumps(value)};"
        f" e.dispatchEvent(new Event({json.dumps(event)})); }})()"
    )
    browser.evaluate("new Promise(function (done) { setTimeout(done, 50); })")


@pytest.mark.slow
def test_report_in_chromium_hostile_counts_filters_sort(
    browser: Browser, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    args, _ = _hostile_run(tmp_path, key, other_key)
    cli(*args, "--format", "html", "-o", "report.html")
    browser.events.clear()
    browser.evaluate("window.alerted = 0")
    browser.load(tmp_path / "report.html")
    assert browser.evaluate("document.body.dataset.ready") == "true"
    assert browser.evaluate("typeof window.alerted") == "undefined"  # a new document: nothing ran but the report
    assert browser.problems() == []
    assert browser.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert browser.evaluate("document.scripts.length") == 2
    assert browser.evaluate("document.getElementById('count-invalid').textContent") == "3"
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "5"
    cells = browser.evaluate(_TEXTS)
    assert [len(row) for row in cells] == [6] * 5  # every row has its six cells: layout intact
    assert cells[0][0] == escape_text("<script>alert(1)<img src=x onerror=alert(3)>\x1b[31m\u202e.json")
    assert cells[0][2] == escape_text(HOSTILE)  # the claimed signer, as text, control characters visible
    assert escape_text(HOSTILE)[:80] in cells[0][5]  # the policy message quoting the step name (repr)

    _set(browser, "#filter-verdict", "1", "change")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "3"
    _set(browser, "#filter-code", "trust/untrusted-key", "change")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "1"
    assert browser.evaluate(_TEXTS)[0][0] == "stranger.json"
    _set(browser, "#filter-code", "", "change")
    _set(browser, "#filter-verdict", "", "change")
    _set(browser, "#filter-text", "STRANGER", "input")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "1"
    _set(browser, "#filter-text", "", "input")
    browser.evaluate("document.querySelector('.table-head th[data-col=\"0\"]').click()")
    sources = [row[0] for row in browser.evaluate(_TEXTS)]
    assert sources == sorted(sources)
    browser.evaluate("document.querySelector('.table-head th[data-col=\"0\"]').click()")
    assert [row[0] for row in browser.evaluate(_TEXTS)] == sorted(sources, reverse=True)
    browser.evaluate(
        "document.querySelector('.table-head th[data-col=\"5\"]').dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))"
    )
    assert (
        browser.evaluate("document.querySelector('.table-head th[data-col=\"5\"]').getAttribute('aria-sort')")
        == "ascending"
    )
    browser.evaluate("document.querySelector('button.code[data-code=\"policy/steps-succeeded\"]').click()")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "1"
    browser.evaluate("document.querySelector('#row-body tr').click()")
    assert "(" in browser.evaluate("document.getElementById('detail').textContent")
    lanes = browser.evaluate("document.querySelectorAll('#timeline g.lane').length")
    assert lanes == 2  # the keyring key and the stranger's key (the broken and missing receipts have none)
    assert browser.evaluate("document.querySelectorAll('#timeline rect.event.revoked').length") == 1
    assert browser.problems() == []
    browser.screenshot(_artifacts() / "html-report-hostile.png")


@pytest.mark.slow
def test_report_in_chromium_is_virtualised(browser: Browser, tmp_path: Path) -> None:
    rows = [
        ReportRow(f"receipts/{i:05d}.json", "valid" if i % 3 else "invalid", "verified", "ci@example.com",
                  "k" + str(i % 4), f"2026-11-{1 + i % 28:02d}T10:00:00Z",
                  () if i % 3 else (Check("policy:steps-succeeded", False, "violation", f"step {i} failed"),))
        for i in range(5000)
    ]  # fmt: skip
    (tmp_path / "big.html").write_text(render_html(rows, ReportContext()), encoding="utf-8")
    browser.events.clear()
    browser.load(tmp_path / "big.html")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "5000"
    drawn = browser.evaluate("document.querySelectorAll('#row-body tr').length")
    assert 0 < drawn < 60
    browser.evaluate("document.getElementById('viewport').scrollTop = 27 * 2500")
    browser.evaluate("new Promise(function (done) { requestAnimationFrame(function () { setTimeout(done, 50); }); })")
    first = browser.evaluate("document.querySelector('#row-body tr td').textContent")
    assert "receipts/024" in first or "receipts/025" in first
    _set(browser, "#filter-text", "04999", "input")
    assert browser.evaluate("document.getElementById('shown-count').textContent") == "1"
    assert browser.evaluate("document.querySelectorAll('#timeline g.lane').length") == 4
    assert browser.problems() == []


def test_timeline_marks_the_rotation_and_the_supersession() -> None:
    from datetime import timedelta

    from attestkit.core.render.html_report import key_events
    from attestkit.core.trust.keyring import add_key, empty_keyring, keyring_from_document, rotate_key

    old, new = PrivateKey.from_seed(bytes([5]) * 32), PrivateKey.from_seed(bytes([6]) * 32)
    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    document = add_key(empty_keyring(), old.public_key, identity="ci@company.com", scopes=["project:myapp"])
    store = keyring_from_document(rotate_key(document, old.public_key.key_id, new.public_key, when, timedelta(days=7)))
    events = {(e.key_id, e.kind): e for e in key_events(store)}
    assert events[(old.public_key.key_id, "rotation")].at == when
    assert new.public_key.key_id in events[(old.public_key.key_id, "rotation")].detail
    assert events[(old.public_key.key_id, "revoked")].at == when + timedelta(days=7)
    assert events[(new.public_key.key_id, "not-before")].at == when
