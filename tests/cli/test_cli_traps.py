"""Regression tests for the traps a new user hit (issue 22, items 1, 4, 5, 7 and 8).

Each trap is reproduced through the installed command (exit code and one clear line) and,
where it is the library's, through the library too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import attestkit
from attestkit import PrivateKey, UsageError, builtin_policy, sign_receipt, verify_receipt
from attestkit.adapters.files import write_keypair
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import PolicyError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json
from tests.http_server import Reply, serve

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
Cli = Callable[..., CliResult]


@pytest.fixture()
def signed_file(tmp_path: Path, key: PrivateKey) -> Path:
    return write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))


def _ring(cli: Cli, tmp_path: Path, key: PrivateKey, *extra: str) -> Path:
    ring = tmp_path / "ring.yaml"
    assert cli("keys", "trust", key.public_key.text, "--keyring", str(ring), *extra).code == 0
    return ring


# --- item 1: one vocabulary -----------------------------------------------------------------


def test_verify_writes_reports_with_o_and_takes_keyring(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                        signed_file: Path) -> None:  # fmt: skip
    ring = _ring(cli, tmp_path, key, "--identity", "ci@x")
    out = tmp_path / "out.xml"
    result = cli("verify", str(signed_file), "--keyring", str(ring), "--now", NOW, "--format", "junit", "-o", str(out))
    assert result.code == 0, result
    assert out.read_text().startswith("<?xml") and result.out == ""
    # The old name still works.
    assert cli("verify", str(signed_file), "--trusted-keys-file", str(ring), "--now", NOW).code == 0


def test_contradictory_options_are_refused(cli: Cli, tmp_path: Path, key: PrivateKey, signed_file: Path) -> None:
    common = [str(signed_file), "--now", NOW]
    both = cli("verify", *common, "--public-key", key.public_key.text, "--json", "--format", "junit")
    assert both.code == 2 and "--json and --format junit contradict" in both.err
    integrity = cli("verify", *common, "--public-key", key.public_key.text, "--integrity-only")
    assert integrity.code == 2 and "--integrity-only checks against the receipt's embedded key only" in integrity.err
    assert_one_line_error(integrity)
    scoped = cli("verify", *common, "--integrity-only", "--scope", "project:x")
    assert scoped.code == 2 and "--scope selects keyring keys" in scoped.err
    inputs = cli("verify", *common, "--public-key", key.public_key.text, "--check-inputs")
    assert inputs.code == 2 and "--check-inputs" in inputs.err and "--artifacts" in inputs.err
    hashed = cli("hash", str(signed_file), "--format", "json")
    assert hashed.code == 2 and "--format json is for --check FILE" in hashed.err
    listed = cli("fetch", "--pipeline", "p1")
    assert listed.code == 2 and "add --all -o DIR/" in listed.err


def test_hash_output_file_is_written_atomically(cli: Cli, tmp_path: Path, signed_file: Path) -> None:
    out = tmp_path / "sums.txt"
    assert cli("hash", str(signed_file), "-o", str(out)).code == 0
    line = out.read_text()
    assert line.startswith("blake3:") and line.endswith(f"  {signed_file}\n")
    assert cli("hash", "--check", str(out)).code == 0
    # One path that cannot be hashed: no file at all, not a partial one.
    partial = tmp_path / "partial.txt"
    failed = cli("hash", str(signed_file), str(tmp_path / "missing"), "-o", str(partial))
    assert failed.code == 2 and not partial.exists()


def test_every_time_option_takes_rfc3339_and_unix_seconds(cli: Cli, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"event": "x"}')
    env = {"WH_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    args = ["webhook", "sign", str(body), "--secret-env", "WH_SECRET", "--scheme", "standard", "--id", "msg_1"]
    as_text = cli(*args, "--timestamp", NOW, env=env)
    as_unix = cli(*args, "--timestamp", str(int(T0.timestamp())), env=env)
    assert as_text.code == as_unix.code == 0 and as_text.out == as_unix.out
    assert f"webhook-timestamp: {int(T0.timestamp())}" in as_text.out
    bad = cli(*args, "--timestamp", "noon", env=env)
    assert bad.code == 2 and "--timestamp:" in bad.err and "RFC 3339 or Unix seconds" in bad.err


# --- item 4: identity pinning --------------------------------------------------------------


def test_identity_pinning(cli: Cli, tmp_path: Path, key: PrivateKey, signed_file: Path) -> None:
    ring = _ring(cli, tmp_path, key, "--identity", "ci@company.com")
    base = ["verify", str(signed_file), "--keyring", str(ring), "--now", NOW, "--json"]
    assert cli(*base, "--identity", "ci@company.com").code == 0
    assert cli(*base, "--identity", "release@company.com", "--identity", "ci@company.com").code == 0
    other = cli(*base, "--identity", "release@company.com")
    assert other.code == 1
    violations = other.json_lines()[0]["policy_compliance"]["violations"]
    assert violations == [
        {"policy": "identity", "message": "signer 'ci@company.com' is not allowed", "pointer": "/signer"}
    ]
    # A key trusted without an identity never passes a pin (the receipt's own signer claim does not count).
    (tmp_path / "b").mkdir()
    bare = _ring(cli, tmp_path / "b", key)
    claim = write_json(tmp_path / "claim.json", sign_receipt(make_receipt(), key, signer="ci@company.com"))
    assert cli("verify", str(claim), "--keyring", str(bare), "--now", NOW, "--identity", "ci@company.com").code == 1
    refused = cli("verify", str(signed_file), "--integrity-only", "--identity", "ci@company.com")
    assert refused.code == 2 and "--identity needs trusted keys" in refused.err


# --- item 5: quiet bulk output -------------------------------------------------------------


def test_quiet_prints_failures_and_a_summary_with_classes(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                          other_key: PrivateKey) -> None:  # fmt: skip
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(4):
        write_json(folder / f"ok{i}.json", sign_receipt(make_receipt(), key))
    write_json(folder / "stranger.json", sign_receipt(make_receipt(), other_key))
    tampered = sign_receipt(make_receipt(), key)
    tampered["total_duration_secs"] = 1
    write_json(folder / "tampered.json", tampered)
    result = cli("verify", str(folder), "--public-key", key.public_key.text, "--now", NOW, "--quiet", "--jobs", "1")
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert not any(line.startswith("VALID") for line in lines)
    assert sum(line.startswith("INVALID") for line in lines) == 2
    assert lines[-1] == "4 valid, 2 invalid, 0 errors; failures: bad-signature 1, untrusted-key 1"
    as_json = cli("verify", str(folder), "--public-key", key.public_key.text, "--now", NOW, "--quiet", "--json")
    assert [line["valid"] for line in as_json.json_lines()] == [False, False]


# --- item 7: the library refuses misuse clearly --------------------------------------------


def test_library_wrong_argument_types_are_usage_errors(key: PrivateKey, tmp_path: Path) -> None:
    receipt = sign_receipt(make_receipt(), key)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: verify_receipt(receipt, trusted_keys=key.public_key, now=T0), "wrap a single key in a list"),
        (lambda: verify_receipt(receipt, trusted_keys=None, now=T0), "trusted_keys: expected a TrustStore"),  # type: ignore[arg-type]
        (lambda: verify_receipt(receipt, trusted_keys=key.public_key.text, now=T0), "got one str"),  # type: ignore[arg-type]
        (lambda: verify_receipt(receipt, trusted_keys=[key.public_key], now=NOW), "now: expected a timezone-aware"),  # type: ignore[arg-type]
        (lambda: verify_receipt(receipt, trusted_keys=[key.public_key], now=datetime(2026, 1, 1)), "naive"),
        (lambda: verify_receipt(receipt, trusted_keys=[key.public_key], tolerance="5m"), "tolerance: expected"),  # type: ignore[arg-type]
        (
            lambda: verify_receipt(receipt, trusted_keys=[key.public_key], policies=["require-tests"]),  # type: ignore[list-item]
            "use builtin_policy('require-tests')",
        ),
        (
            lambda: verify_receipt(receipt, trusted_keys=[key.public_key], artifacts_dir=str(tmp_path / "typo")),
            "no such directory",
        ),
        (lambda: sign_receipt("{}", key), "expected the receipt as a mapping, got str"),  # type: ignore[arg-type]
        (lambda: sign_receipt(make_receipt(), key.public_key), "expected a PrivateKey, got PublicKey"),  # type: ignore[arg-type]
        (lambda: VerifyOptions(trusted=key.public_key), "trusted: expected"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(UsageError, match=re.escape(message)) as caught:
            call()
        assert caught.value.exit_code == 2 and caught.value.code == "usage"
    # The right types still work (a list of keys becomes a store), and the named policy does its job.
    assert len(VerifyOptions(trusted=[key.public_key]).trusted) == 1  # type: ignore[arg-type]
    result = verify_receipt(receipt, trusted_keys=[key.public_key], now=T0, policies=[builtin_policy("require-tests")])
    assert result.valid


def test_library_missing_artifacts_dir_is_the_clis_usage_error(cli: Cli, tmp_path: Path, key: PrivateKey,
                                                               signed_file: Path) -> None:  # fmt: skip
    result = cli("verify", str(signed_file), "--public-key", key.public_key.text, "--artifacts", str(tmp_path / "typo"))
    assert result.code == 2 and "no such directory" in result.err
    with pytest.raises(UsageError, match="no such directory"):
        verify_receipt(json.loads(signed_file.read_text()), trusted_keys=[key.public_key], artifacts_dir="typo-dir")


def test_readme_print_to_json_prints_json(key: PrivateKey) -> None:
    result = attestkit.verify_receipt(sign_receipt(make_receipt(), key), trusted_keys=[key.public_key], now=T0)
    assert json.loads(str(result.to_json()))["valid"] is True and result.to_dict()["valid"] is True


def test_policy_name_did_you_mean(cli: Cli, signed_file: Path, key: PrivateKey) -> None:
    with pytest.raises(PolicyError, match="did you mean 'require-tests'"):
        builtin_policy("require-test")
    result = cli("verify", str(signed_file), "--public-key", key.public_key.text, "--policy", "require-test")
    assert result.code == 2 and "did you mean 'require-tests'?" in result.err
    assert_one_line_error(result)


# --- item 8: messages that lead somewhere --------------------------------------------------


def test_key_messages(cli: Cli, tmp_path: Path, key: PrivateKey, signed_file: Path) -> None:
    key_path, pub_path = write_keypair(str(tmp_path / "keys"), "k", key)
    os.chmod(pub_path, 0o644)
    wrong = cli("sign", str(signed_file), "--key", pub_path)
    assert wrong.code == 2 and "is a public key, not a private key" in wrong.err and "chmod" not in wrong.err
    in_env = cli("sign", str(signed_file), env={"ATTESTKIT_SIGNING_KEY": key_path})
    assert in_env.code == 2 and "holds a file path, not a key: pass --key PATH" in in_env.err
    assert key_path not in in_env.err  # the variable's value is not echoed
    bare = key.public_key.text.removeprefix("ed25519:")
    hint = cli("verify", str(signed_file), "--public-key", bare)
    assert hint.code == 2 and "write it as ed25519:<the 64 hex digits>" in hint.err and bare not in hint.err
    assert_one_line_error(hint)


def test_dsse_envelope_given_to_sign_and_export(cli: Cli, tmp_path: Path, key: PrivateKey, signed_file: Path) -> None:
    key_path, _ = write_keypair(str(tmp_path / "keys"), "k", key)
    envelope = tmp_path / "env.json"
    exported = cli("export", str(signed_file), "--key", key_path, "--public-key", key.public_key.text, "--now", NOW,
                   "-o", str(envelope))  # fmt: skip
    assert exported.code == 0, exported
    for args in (["sign", str(envelope), "--key", key_path],
                 ["export", str(envelope), "--key", key_path, "--public-key", key.public_key.text]):  # fmt: skip
        result = cli(*args)
        assert result.code == 1 and "is a DSSE envelope" in result.err and "timestamp is required" not in result.err
    assert cli("verify", str(envelope), "--public-key", key.public_key.text, "--now", NOW).code == 0


def test_pipeline_directory_says_so(cli: Cli, tmp_path: Path, key: PrivateKey, signed_file: Path) -> None:
    result = cli("verify", str(signed_file), "--public-key", key.public_key.text, "--pipeline", str(tmp_path))
    assert result.code == 2 and "is a directory; give the pipeline file" in result.err


def test_fetch_messages(cli: Cli) -> None:
    with serve(
        {"/v1/executions/e1/receipt": [Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "no token"}})]}
    ) as s:
        unset = cli("fetch", "--base-url", s.base_url, "--execution", "e1")
    assert unset.code == 2 and "$ATTEST_TOKEN is not set" in unset.err and "check the credentials" not in unset.err
    offline = cli("fetch", "--base-url", "https://no-such-host.invalid", "--execution", "e1", env={"ATTEST_TOKEN": "t"})
    assert offline.code == 2 and "cannot resolve host no-such-host.invalid" in offline.err
    assert "gaierror" not in offline.err
    typo = cli("fetch", "--profile", "continum-hub", "--url", "https://x.invalid/r")
    assert typo.code == 2 and "did you mean 'continue-hub'?" in typo.err
    with serve({"/r": [Reply(401, {"message": "bad key"})]}) as s:
        twin = cli("fetch", "--profile", "continum", "--url", f"{s.base_url}/r", env={"CONTINUUM_TOKEN": "ctok-1"})
    assert twin.code == 2 and "$CONTINUUM_TOKEN is set: did you mean --profile continuum?" in twin.err


def test_keys_delegate_with_a_non_root_key_is_refused_when_made(cli: Cli, tmp_path: Path, key: PrivateKey) -> None:
    ring = _ring(cli, tmp_path, key, "--identity", "ci@x")  # a signer, not a root
    key_path, _ = write_keypair(str(tmp_path / "keys"), "k", key)
    result = cli("keys", "delegate", "--keyring", str(ring), "--key", key_path,
                 "--delegate", PrivateKey.generate().public_key.text, "-o", str(tmp_path / "d.json"))  # fmt: skip
    assert result.code == 2 and "may not delegate" in result.err and "'root' role" in result.err
    assert not (tmp_path / "d.json").exists()


def test_keys_list_json_gives_dates_and_text_columns_do_not_overflow(cli: Cli, tmp_path: Path,
                                                                     key: PrivateKey) -> None:  # fmt: skip
    identity = "a-rather-long-identity-for-the-release-pipeline@company.example"
    ring = _ring(cli, tmp_path, key, "--identity", identity, "--not-before", "2026-01-01T00:00:00Z",
                 "--not-after", str(int((T0 + timedelta(days=3650)).timestamp())))  # fmt: skip
    delegated = PrivateKey.generate().public_key
    assert cli("keys", "revoke", delegated.text, "--keyring", str(ring), "--reason", "key-compromise",
               "--effective-date", NOW).code == 0  # fmt: skip
    rows = cli("keys", "list", "--keyring", str(ring), "--json").json_lines()
    assert rows[0]["not_before"] == "2026-01-01T00:00:00Z" and rows[0]["not_after"] == "2036-11-17T12:00:00Z"
    assert rows[1]["kind"] == "revocation" and rows[1]["revoked_at"] == NOW and rows[1]["reason"] == "key-compromise"
    assert all("- .. -" not in json.dumps(row) for row in rows)
    text = cli("keys", "list", "--keyring", str(ring)).out.splitlines()
    header, first = text[0], text[1]
    assert first.index(identity) == header.index("IDENTITY")
    assert first[header.index("WINDOW") - 2 : header.index("WINDOW")] == "  "  # the identity ends before WINDOW


def test_verify_text_columns_do_not_overflow(cli: Cli, signed_file: Path, key: PrivateKey) -> None:
    result = cli("verify", str(signed_file), "--public-key", key.public_key.text, "--now", NOW,
                 "--policy", "steps-succeeded")  # fmt: skip
    lines = result.out.splitlines()
    long = next(line for line in lines if "policy:steps-succeeded" in line)
    short = next(line for line in lines if "  signature  " in line)
    # The widest check name sets the column: every message starts at the same place.
    assert long.index("policy satisfied") == short.index("signed by")
    assert long[long.index("policy satisfied") - 1] == " "
