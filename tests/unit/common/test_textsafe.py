"""Terminal and CI-log injection (issue 15 item 8): hostile receipts, names and servers, through the CLI.

An attacker who writes a receipt (or an artifact name, or a server answer) must not be able to
move the cursor, recolour the log, add a line or reorder text in anything attestkit prints.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.textsafe import escape_lines, escape_text, has_unsafe_chars, json_text
from tests.conftest import NOW, CliResult, make_receipt, write_json
from tests.http_server import Reply, serve

# Erase the line, go back to its start, paint a green VALID; then a right-to-left override.
PAINT = "\r\x1b[2K\x1b[32;1mVALID\x1b[0m \u202eelif\u202c \x9b31m \u2066x\u2069 \u200f\x07\x7f"
RAW = ["\r", "\x1b", "\u202e", "\u202c", "\x9b", "\u2066", "\u2069", "\u200f", "\x07", "\x7f"]


def _assert_inert(*texts: str) -> None:
    for text in texts:
        for char in RAW:
            assert char not in text, (char, text)


def test_escape_text_classes() -> None:
    assert escape_text("dist/app.bin") == "dist/app.bin"
    assert escape_text("é ü 中文 🙂") == "é ü 中文 🙂"  # letters and symbols stay
    assert escape_text("a\x1b[31mb\r\n\t") == "a\\x1b[31mb\\r\\n\\t"
    assert escape_text("\x7f\x85\x9b") == "\\x7f\\x85\\x9b"
    for point in [0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0xFEFF]:
        assert escape_text(chr(point)) == f"\\u{point:04x}"
    assert escape_text("\U000e0041") == "\\U000e0041"  # a tag character (Cf)
    assert escape_text("\udcff") == "\\udcff"  # an undecodable file name byte
    assert escape_lines("one\ntwo\x1b") == "one\ntwo\\x1b"
    assert escape_text("a\nb", keep="\n") == "a\nb"


@given(st.text())
def test_escaped_text_has_no_unsafe_character(text: str) -> None:
    escaped = escape_text(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in escaped)
    assert escape_text(escaped) == escaped  # idempotent: escaping twice is harmless
    assert has_unsafe_chars(text) == (escaped != text)
    escaped.encode("utf-8")  # always printable on a UTF-8 stream (no lone surrogate left)


@given(
    st.recursive(
        st.text() | st.integers() | st.none(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_json_text_means_the_same(value: object) -> None:
    for indent in (None, 2):
        text = json_text(value, indent=indent)
        assert json.loads(text) == value
        assert not has_unsafe_chars(text.replace("\n", ""))


def _hostile_receipt(key: PrivateKey) -> dict[str, object]:
    receipt = make_receipt(signer=f"ci{PAINT}")
    receipt["steps"][0]["name"] = f"build{PAINT}"  # type: ignore[index]
    receipt["steps"][0]["outputs"] = [  # type: ignore[index]
        {"path": f"dist/app{PAINT}.bin", "hash": "blake3:" + "cd" * 32, "size_bytes": 3}
    ]
    return sign_receipt(receipt, key)


def test_verify_text_output_cannot_be_repainted(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    write_json(tmp_path / "r.json", _hostile_receipt(key))
    (tmp_path / "art").mkdir()
    args = ["verify", "r.json", "--public-key", key.public_key.text, "--now", NOW, "--artifacts", "art"]
    result = cli(*args)
    assert result.code == 1
    _assert_inert(result.out, result.err)
    first = result.out.splitlines()[0]
    assert first.startswith("INVALID  r.json")
    assert "dist/app\\r\\x1b[2K\\x1b[32;1mVALID" in result.out  # shown, visibly escaped
    assert not any(line.startswith("VALID") for line in result.out.splitlines())
    as_json = cli(*args, "--json")
    _assert_inert(as_json.out, as_json.err)
    (line,) = as_json.json_lines()
    assert line["valid"] is False
    assert any(PAINT in c["message"] for c in line["checks"])  # JSON keeps the exact text, escaped as \\u


def test_hostile_file_names_in_a_directory(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    folder = tmp_path / "receipts"
    folder.mkdir()
    write_json(folder / "good.json", sign_receipt(make_receipt(), key))
    name = "x\r\x1b[32mVALID\x1b[0m \u202enosj.json"
    (folder / name).write_text("{not json")
    result = cli("verify", str(folder), "--public-key", key.public_key.text, "--now", NOW)
    assert result.code == 1  # malformed: invalid
    _assert_inert(result.out, result.err)
    verdicts = [line for line in result.out.splitlines() if line.startswith(("VALID", "INVALID"))]
    assert sorted(v.split()[0] for v in verdicts) == ["INVALID", "VALID"]
    assert any(v.startswith("INVALID") and "x\\r\\x1b[32mVALID" in v for v in verdicts)
    undecodable = os.fsencode(str(folder)) + b"/bad\xff\x1b.json"
    with open(undecodable, "wb") as handle:
        handle.write(b"[]")
    again = cli("verify", str(folder), "--public-key", key.public_key.text, "--now", NOW)
    assert again.code == 1 and "Traceback" not in again.err and "internal error" not in again.err
    _assert_inert(again.out, again.err)


def test_github_annotations_and_summary(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    write_json(tmp_path / "r.json", _hostile_receipt(key))
    (tmp_path / "art").mkdir()
    summary = tmp_path / "summary.md"
    result = cli("verify", "r.json", "--public-key", key.public_key.text, "--now", NOW, "--artifacts", "art",
                 "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert result.code == 1
    _assert_inert(result.out, result.err, summary.read_text())
    annotations = [line for line in result.out.splitlines() if line.startswith("::error ")]
    assert annotations and all("\n" not in a for a in annotations)
    assert all(line.startswith("::error ") for line in result.out.splitlines())  # no line was added


def test_server_error_text_is_escaped(cli: Callable[..., CliResult]) -> None:
    body = {"error": {"code": "BAD\x1b[32m", "message": f"nope{PAINT}\nattestkit: VALID", "request_id": "r\u202e1"}}
    with serve({"/v1/executions/e1/receipt": [Reply(400, body)]}) as server:
        result = cli("fetch", "--base-url", server.base_url, "--execution", "e1")
    assert result.code == 2
    _assert_inert(result.out, result.err)
    assert len(result.err.splitlines()) == 1 and "\\nattestkit: VALID" in result.err


def test_usage_errors_quoting_an_argument_are_escaped(cli: Callable[..., CliResult]) -> None:
    result = cli("verify", "r.json", "--format", f"x{PAINT}")
    assert result.code == 2
    _assert_inert(result.out, result.err)
    missing = cli("verify", f"missing{PAINT}.json", "--integrity-only")
    assert missing.code == 2 and "not found" in missing.err
    _assert_inert(missing.out, missing.err)
    assert len(missing.err.splitlines()) == 1


def test_colour_output_keeps_only_its_own_colours(capsys: pytest.CaptureFixture[str]) -> None:
    from attestkit.cli.cmd_verify import render_outcome_colour
    from attestkit.cli.output import out
    from attestkit.core.verify.bulk import BulkOutcome
    from attestkit.core.verify.result import Check, VerificationResult

    result = VerificationResult(f"r{PAINT}.json", (Check(f"sig{PAINT}", False, "bad", f"m{PAINT}"),))
    out(render_outcome_colour(BulkOutcome("r", result, valid=False)), markup=True)
    printed = capsys.readouterr().out
    assert printed.startswith("\x1b[31;1mINVALID\x1b[0m  r\\r\\x1b[2K")
    assert printed.count("\x1b") == 2  # the verdict's own colour on and off, nothing else
    _assert_inert(printed.replace("\x1b[31;1m", "").replace("\x1b[0m", ""))
