"""Peers' conventions (issue 18.5): encrypted ssh-keygen keys, b3sum's escaped check lines,
``%YAML`` directives, and YAML 1.1 readers' plain scalars.

The peers are the real tools: ``ssh-keygen`` writes the keys, ``b3sum`` the check files and
PyYAML (a YAML 1.1 library) the drafts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from attestkit.adapters.files import load_private_key_file
from attestkit.core.crypto.check_file import parse_check_file
from attestkit.core.crypto.keys import parse_public_key
from attestkit.core.receipt.reader import parse_receipt
from attestkit.core.receipt.yaml_reader import yaml11_differences
from attestkit.errors import KeyFormatError, MalformedReceiptError, UsageError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt

PASSPHRASE = "correct horse battery"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return path


@pytest.fixture()
def ssh_key(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        [_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "ci@example.com", "-f", str(key)],
        check=True,
    )
    return key, tmp_path / "id_ed25519.pub"


# ---- encrypted OpenSSH private keys -----------------------------------------------------------


def test_encrypted_ssh_keygen_key_signs(
    cli: Callable[..., CliResult], tmp_path: Path, ssh_key: tuple[Path, Path]
) -> None:
    private, public = ssh_key
    loaded = load_private_key_file(str(private), {"ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE})
    assert loaded.public_key == parse_public_key(public.read_text())
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(make_receipt()))
    signed = tmp_path / "r.json"
    done = cli(
        "sign", str(draft), "--key", str(private), "-o", str(signed), env={"ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE}
    )
    assert done.code == 0, done.err
    verified = cli("verify", str(signed), "--public-key", str(public), "--now", NOW)
    assert verified.code == 0, verified.out
    wrong = cli("sign", str(draft), "--key", str(private), env={"ATTESTKIT_KEY_PASSPHRASE": "wrong"})
    assert (
        wrong.code == 2 and "wrong passphrase" in wrong.err and "wrong" not in wrong.err.replace("wrong passphrase", "")
    )
    assert_one_line_error(wrong)
    missing = cli("sign", str(draft), "--key", str(private))
    assert missing.code == 2 and "ATTESTKIT_KEY_PASSPHRASE" in missing.err
    assert PASSPHRASE not in wrong.err + missing.err


def test_without_bcrypt_a_one_line_hint(tmp_path: Path, ssh_key: tuple[Path, Path]) -> None:
    private, _ = ssh_key
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(make_receipt()))
    # The interpreter as it is without the optional package: its import fails.
    code = "import sys; sys.modules['bcrypt'] = None; from attestkit.cli import main; sys.argv[0] = 'attestkit'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "sign", str(draft), "--key", str(private)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE},
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "pip install 'attestkit[bcrypt]'" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and PASSPHRASE not in proc.stderr
    with pytest.raises(KeyFormatError):  # and with bcrypt present but no passphrase: the usual message
        load_private_key_file(str(private), {})


# ---- b3sum's escaped check lines ---------------------------------------------------------------


def _odd_names(root: Path) -> list[Path]:
    root.mkdir()
    names = [root / "back\\slash", root / "new\nline", root / "both\\\nx", root / "plain.txt"]
    for index, path in enumerate(names):
        path.write_bytes(b"content %d" % index)
    return names


def test_b3sum_check_files_with_escaped_names(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    names = _odd_names(tmp_path / "odd")
    listing = subprocess.run(
        [_tool("b3sum"), *(str(p.relative_to(tmp_path)) for p in names)], capture_output=True, check=True, cwd=tmp_path
    ).stdout
    assert listing.count(b"\n\\") + listing.startswith(b"\\") == 3  # b3sum escaped the three odd names
    check = tmp_path / "sums.b3"
    check.write_bytes(listing)
    entries = parse_check_file(listing.decode(), "sums.b3")
    assert [e.path for e in entries] == [str(p.relative_to(tmp_path)) for p in names]
    ok = cli("hash", "--check", str(check), cwd=tmp_path)
    assert ok.code == 0, ok.out + ok.err
    assert "odd/new\\nline: OK" in ok.out  # shown escaped: one line per entry
    (tmp_path / "odd" / "new\nline").write_bytes(b"changed")
    changed = cli("hash", "--check", str(check), "--format", "json", cwd=tmp_path)
    assert changed.code == 1
    failed = [line for line in changed.json_lines() if not line["passed"]]
    assert [line["location"] for line in failed] == ["odd/new\nline"]
    bad = tmp_path / "bad.b3"
    bad.write_text("\\" + "ab" * 32 + "  odd/bad\\qescape\n")
    refused = cli("hash", "--check", str(bad), cwd=tmp_path)
    assert refused.code == 2 and "line 1: unknown escape" in refused.err
    assert_one_line_error(refused)


_HASH_NAMES = ["a\nb", "back\\slash", "both\\\nx", "\\lead", "plain.txt"]
_DISPLAY_NAMES = ["cr\rname", "esc\x1b[31mred", "bidi\u202etxt.exe", "tab\tx", "tag\U000e0041", "undecodable\udcff"]


def _write_names(root: Path, names: list[str]) -> None:
    for index, name in enumerate(names):
        (root / name).write_bytes(b"content %d" % index)


def test_hash_lines_are_b3sum_lines_for_plain_names_and_escaped_for_the_rest(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from attestkit.core.textsafe import escape_text

    _write_names(tmp_path, _HASH_NAMES)
    b3sum = subprocess.run([_tool("b3sum"), "--", *_HASH_NAMES], capture_output=True, check=True, cwd=tmp_path).stdout
    printed = cli("hash", *_HASH_NAMES, cwd=tmp_path)
    assert printed.code == 0
    for ours, theirs, name in zip(printed.out.splitlines(), b3sum.decode().splitlines(), _HASH_NAMES, strict=True):
        digest = theirs.lstrip("\\").split("  ", 1)[0]
        assert ours == f"blake3:{digest}  {escape_text(name)}"  # contract section 4: blake3:<hex>  PATH
        if not theirs.startswith("\\"):
            assert ours == "blake3:" + theirs  # b3sum's own line, prefixed
    written = cli("hash", *_HASH_NAMES, "-o", "sums.b3", cwd=tmp_path)
    assert written.code == 0 and (tmp_path / "sums.b3").read_text() == printed.out


@pytest.mark.parametrize("to_file", [True, False])
def test_hash_output_round_trips_through_hash_check(
    cli: Callable[..., CliResult], tmp_path: Path, to_file: bool
) -> None:
    names = [
        n for n in _HASH_NAMES if "\\\n" not in n
    ] + _DISPLAY_NAMES  # (a backslash before a newline reads two ways)
    _write_names(tmp_path, names)
    if to_file:
        assert cli("hash", *names, "-o", "sums", cwd=tmp_path).code == 0
    else:
        printed = cli("hash", *names, cwd=tmp_path)
        assert printed.code == 0
        (tmp_path / "sums").write_text(printed.out, encoding="utf-8")
    listing = (tmp_path / "sums").read_text(encoding="utf-8")
    assert listing.count("\n") == len(names) and listing.endswith("\n")  # one line per name
    assert not any(c in listing for c in "\r\x1b\u202e\t\udcff\U000e0041")  # shown escaped, never raw
    ok = cli("hash", "--check", "sums", cwd=tmp_path)
    assert ok.code == 0, ok.out + ok.err
    # A decoy literally named 'a\nb' (backslash, n) beside the file named "a<newline>b" makes
    # the line ambiguous: FAILED, whichever of the two holds the recorded content.
    (tmp_path / "a\\nb").write_bytes(b"content 0")
    (tmp_path / "a\nb").write_bytes(b"TAMPERED")
    (tmp_path / "esc\\x1b[31mred").write_bytes(b"content %d" % names.index("esc\x1b[31mred"))
    tampered = cli("hash", "--check", "sums", "--format", "json", cwd=tmp_path)
    assert tampered.code == 1
    failed = [line for line in tampered.json_lines() if not line["passed"]]
    assert [line["code"] for line in failed] == ["ambiguous-name", "ambiguous-name"], failed


def test_check_file_forms() -> None:
    digest = "AB" * 32
    entries = parse_check_file(f"blake3:{digest}  a b\r\n{digest}  back\\slash\n\\{digest}  x\\\\y\\nz\\r\n\n", "f")
    assert [(e.path, e.line) for e in entries] == [("a b", 1), ("back\\slash", 2), ("x\\y\nz\r", 3)]
    assert {e.digest for e in entries} == {"blake3:" + digest.lower()}
    escaped = parse_check_file(f"\\{digest}  t\\tx\\x1b\\u202e\\U000e0041\\udcff\\\\x1b\n", "f")
    assert [e.path for e in escaped] == ["t\tx\x1b\u202e\U000e0041\udcff\\x1b"]
    bad_escapes = ["\\x4", "\\xzz", "\\ud800", "\\U00110000", "\\q"]
    for bad in [f"{digest} one-space", "\\" + digest + "  trailing\\", "nothex  x"] + [
        f"\\{digest}  a{escape}" for escape in bad_escapes
    ]:
        with pytest.raises(UsageError, match="line 1"):
            parse_check_file(bad, "f")


def _b3sum_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace("\n", "\\n")


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(lambda s: s.strip() == s and s)
)
def test_escaped_names_round_trip(name: str) -> None:
    line = ("\\" if ("\\" in name or "\n" in name) else "") + "0" * 64 + "  " + _b3sum_escape(name) + "\n"
    if "\r" in name and not line.startswith("\\"):
        return  # b3sum 1.x leaves \r unescaped; a bare \r at the end is read as CRLF
    assert [e.path for e in parse_check_file(line, "f")] == [name]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_malformed_check_files_never_crash(text: str) -> None:
    try:
        parse_check_file(text, "f")
    except UsageError as exc:
        assert "f: line " in str(exc)


# ---- %YAML directives and YAML 1.1 scalars ---------------------------------------------------


def test_yaml_directives(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    from attestkit.core.crypto.keys import PrivateKey

    body = yaml.safe_dump(make_receipt(), sort_keys=False)
    for version in ("1.1", "1.3"):
        with pytest.raises(MalformedReceiptError, match=rf"%YAML {version} directive: .*re-encode") as caught:
            parse_receipt(f"%YAML {version}\n---\n{body}".encode(), source="r.yaml")
        assert caught.value.code == "yaml-version"
    assert parse_receipt(f"%YAML 1.2\n---\n{body}".encode(), source="r.yaml").data["steps"][0]["exit_code"] == 0
    path = tmp_path / "old.yaml"
    path.write_text(f"%YAML 1.1\n---\n{body}")
    result = cli("verify", str(path), "--integrity-only", "--now", NOW, "--json")
    assert result.code == 1
    check = result.json_lines()[0]["checks"][0]
    assert check["code"] == "yaml-version" and "convert the receipt to JSON" in check["message"]
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(PrivateKey.generate().to_pem())
    key_file.chmod(0o600)
    signing = cli("sign", str(path), "--key", str(key_file), "-o", str(tmp_path / "out.json"))
    assert signing.code == 1 and "%YAML 1.1 directive" in signing.err and not (tmp_path / "out.json").exists()
    assert_one_line_error(signing)


def test_sign_warns_about_yaml11_scalars(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    from attestkit.core.crypto.keys import PrivateKey

    key_file = tmp_path / "k.pem"
    key_file.write_bytes(PrivateKey.generate().to_pem())
    key_file.chmod(0o600)
    receipt = make_receipt(attest_version="08", environment={"umask": "0o22", "debug": "yes"})
    # PyYAML, a YAML 1.1 library, writes these strings unquoted: plain scalars YAML 1.2 reads as numbers.
    draft_text = yaml.safe_dump(receipt, sort_keys=False)
    assert "attest_version: 08" in draft_text and "umask: 0o22" in draft_text
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text + "extra: yes\n")
    signed = cli("sign", str(draft), "--key", str(key_file), "-o", str(tmp_path / "r.json"))
    assert signed.code == 0, signed.err
    warning = [line for line in signed.err.splitlines() if "YAML 1.1" in line]
    assert len(warning) == 1 and "3 plain scalar" in warning[0]
    assert "'08' is 8 here, '08' in YAML 1.1" in warning[0] and "'yes' is 'yes' here, True" in warning[0]
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["attest_version"] == 8  # what attestkit read, and signed
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(json.dumps(make_receipt()))  # JSON is YAML: nothing ambiguous
    clean = cli("sign", str(quoted), "--key", str(key_file))
    assert clean.code == 0 and "YAML 1.1" not in clean.err
    assert yaml11_differences("a: '08'\nb: \"yes\"\nc: 2026-11-20T10:00:00Z\nd: 1.5\n", "x") == []


def test_ssh_keygen_reads_our_public_key_line(
    cli: Callable[..., CliResult], tmp_path: Path, ssh_key: tuple[Path, Path]
) -> None:
    private, public = ssh_key
    exported = cli("keys", "export", str(private), "--format", "openssh", env={"ATTESTKIT_KEY_PASSPHRASE": PASSPHRASE})
    assert exported.code == 0, exported.err
    ours = tmp_path / "ours.pub"
    ours.write_text(exported.out)
    fingerprint = [
        subprocess.run(
            [_tool("ssh-keygen"), "-l", "-f", str(p)], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        for p in (ours, public)
    ]
    assert fingerprint[0] == fingerprint[1] and fingerprint[0].startswith("SHA256:")
