"""Key text pasted where a path goes is never repeated in an error (``--public-key "$(cat a.key)"``).

Errors used to quote the whole value: the private key landed in the CI log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.adapters.secret_files import read_private_file
from attestkit.errors import InputFileError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json

Cli = Callable[..., CliResult]


@pytest.fixture()
def keyed(cli: Cli, tmp_path: Path) -> tuple[str, Path, Path]:
    """(private key text, signed receipt, keyring trusting the key)."""
    assert cli("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    ring = tmp_path / "ring.yaml"
    assert cli("keys", "trust", str(tmp_path / "a.pub"), "--keyring", str(ring)).code == 0
    signed = tmp_path / "r.json"
    unsigned = write_json(tmp_path / "r.u.json", make_receipt())
    assert cli("sign", str(unsigned), "--key", str(tmp_path / "a.key"), "-o", str(signed)).code == 0
    return (tmp_path / "a.key").read_text(), signed, ring


def _assert_not_echoed(result: CliResult, secret: str) -> None:
    assert result.code == 2, (result.out, result.err)
    assert_one_line_error(result)
    body = [line for line in secret.splitlines() if not line.startswith("-----")]
    shown = result.out + result.err
    assert body and not any(line in shown for line in body), result.err
    assert "PRIVATE" not in shown and "not shown" in result.err, result.err


def test_public_key_value_holding_a_private_key(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    secret, signed, _ = keyed
    for value in ("'" + secret + "'", secret.replace("-----BEGIN PRIVATE KEY-----\n", "")):
        _assert_not_echoed(cli("verify", str(signed), "--public-key", value), secret)
        _assert_not_echoed(cli("keys", "show", value), secret)


def test_key_and_keyring_values_holding_a_private_key(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    secret, signed, ring = keyed
    _assert_not_echoed(cli("sign", str(signed), "--key", secret, "-o", "out.json"), secret)
    _assert_not_echoed(cli("verify", str(signed), "--trusted-keys-file", secret), secret)
    # "--": a positional value starting with "-" would be read as an option (click quotes it).
    _assert_not_echoed(cli("keys", "revoke", "--keyring", str(ring), "--reason", "retired", "--", secret), secret)
    _assert_not_echoed(cli("keys", "rotate", "--keyring", str(ring), "--old", secret, "--out-dir", "new"), secret)


def test_a_short_path_is_still_named(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    _, signed, _ = keyed
    result = cli("sign", str(signed), "--key", "missing.key")
    assert result.code == 2 and "missing.key: key file not found" in result.err


def test_bare_hex_is_not_repeated(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    _, signed, _ = keyed
    seed_like = "ab" * 32
    result = cli("verify", str(signed), "--public-key", seed_like)
    assert result.code == 2 and seed_like not in result.err and "ed25519:<the 64 hex digits>" in result.err


def test_secret_files_do_not_repeat_pasted_secrets() -> None:
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    with pytest.raises(InputFileError) as caught:
        read_private_file(secret, "token file", 4096)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in caught.value.message
    assert caught.value.message.startswith("the token file value (")


def test_key_text_read_as_an_unknown_option_is_not_quoted(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    # A positional value starting with "-" is an option to click, whose usage error quoted it whole.
    secret, _, ring = keyed
    body = [line for line in secret.splitlines() if not line.startswith("-----")]
    for args in (("keys", "show", secret), ("keys", "revoke", "--keyring", str(ring), "--reason", "retired", secret)):
        result = cli(*args)
        shown = result.out + result.err
        assert result.code == 2 and body and not any(line in shown for line in body), result.err
        assert "PRIVATE" not in shown and "not shown" in result.err, result.err


def test_key_material_in_other_spellings_is_not_repeated(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    # The fix quoted a value with no PEM marker: a base64-encoded PEM file (how CI secrets are
    # often stored), a PEM's body line, or a bare 64-hex seed given to --key or a trust file.
    import base64

    secret, signed, ring = keyed
    body = secret.splitlines()[1]
    seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test 1's secret key
    values = [base64.b64encode(secret.encode()).decode(), body, seed, seed.upper() + "cd" * 32]
    for value in values:
        for args in (
            ("sign", str(signed), "--key", value, "-o", "out.json"),
            ("verify", str(signed), "--trusted-keys-file", value),
            ("verify", str(signed), "--public-key", value),
            ("keys", "show", value),
            ("keys", "revoke", "--keyring", str(ring), "--reason", "retired", value),
        ):
            result = cli(*args)
            assert result.code == 2, (args, result.err)
            assert value not in result.out + result.err and value.strip() not in result.err, result.err


@pytest.mark.parametrize(
    "args",
    [
        ("webhook", "verify", "body", "--header", "X-Attest-Signature: sha256=00", "--secret-file"),
        ("fetch", "--base-url", "http://127.0.0.1:9", "--execution", "x", "--token-file"),
    ],
    ids=["webhook-secret-file", "token-file"],
)
@pytest.mark.parametrize(
    "secret", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "ghp_0123456789abcdefABCDEF", "hunter2hunter2"]
)
def test_a_secret_given_as_a_secret_file_is_not_repeated(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], secret: str
) -> None:
    # `--secret-file "$HOOK_SECRET"`: 'whsec_...: webhook secret file not found' put the secret in the log.
    (tmp_path / "body").write_bytes(b"{}")
    result = cli(*args, secret)
    assert result.code == 2 and secret not in result.out + result.err, result.err
    assert "not shown" in result.err and "not found" in result.err, result.err


def test_a_missing_secret_file_path_is_still_named(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(b"{}")
    result = cli("webhook", "verify", "body", "--header", "X-Attest-Signature: sha256=00", "--secret-file",
                 "secrets/hook.txt")  # fmt: skip
    assert result.code == 2 and "secrets/hook.txt: webhook secret file not found" in result.err, result.err


@pytest.mark.parametrize("secret", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "hunter2hunter2", "c2VjcmV0+/=="])
def test_a_secret_given_as_the_secret_variable_name_is_not_repeated(cli: Cli, tmp_path: Path, secret: str) -> None:
    # `--secret-env "$HOOK_SECRET"`: 'environment variable whsec_...: is not set' put the secret in the log.
    (tmp_path / "body").write_bytes(b"{}")
    result = cli("webhook", "verify", "body", "--header", "X-Attest-Signature: sha256=00", "--secret-env", secret)
    assert result.code == 2 and secret not in result.out + result.err and "not shown" in result.err, result.err


def test_a_missing_secret_variable_is_still_named(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(b"{}")
    result = cli("webhook", "verify", "body", "--header", "X-Attest-Signature: sha256=00", "--secret-env",
                 "ATTESTKIT_TEST_UNSET_HOOK_SECRET")  # fmt: skip
    assert result.code == 2 and "environment variable ATTESTKIT_TEST_UNSET_HOOK_SECRET is not set" in result.err


def test_a_log_or_witness_key_given_as_its_text_is_not_repeated(cli: Cli, tmp_path: Path) -> None:
    """Review (adv-io2): the tlog key commands quoted a missing --key value whole, so
    ``--key "$(cat log.key)"`` (or the witness key) printed the skey itself, and PEM text or a
    bare hex seed too: 'PRIVATE+KEY+...: key file not found'."""
    from attestkit.core.crypto.keys import PrivateKey
    from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, signer_from_key

    log_skey = signer_from_key("example.com/log", PrivateKey.generate()).skey
    witness_skey = signer_from_key("w.example", PrivateKey.generate(), ALG_COSIGNATURE_V1).skey
    pem = PrivateKey.generate().to_pem(None).decode()
    assert cli("log", "init", "lg", "--origin", "example.com/log").code == 0
    (tmp_path / "cp").write_text("x")
    for secret in (log_skey, witness_skey, pem, "ab" * 32):
        for args in (
            ["log", "checkpoint", "lg", "--key", secret],
            ["log", "cosign", "cp", "--key", secret, "--state", "st", "--log-vkey", "x", "--proof", "p"],
            ["log", "witness", "serve", "--key", secret, "--state", "st", "--log-vkey", "x"],
        ):
            result = cli(*args)
            assert result.code == 2 and "not shown" in result.err, (args[:2], result.err)
            assert_one_line_error(result)
            assert secret.strip().splitlines()[-1] not in result.err and "PRIVATE" not in result.err
    named = cli("log", "checkpoint", "lg", "--key", "keys/log")
    assert named.code == 2 and "keys/log: key file not found" in named.err


def test_key_text_given_as_a_policy_or_receipt_file_is_not_repeated(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    """Review (adv-io2): every file read through read_bytes (a policy file, a receipt, a
    pipeline) quoted a missing path whole: ``--policy-file "$SIGNING_KEY"`` printed the PEM."""
    secret, signed, ring = keyed
    body = secret.splitlines()[1]
    for value in (secret, body, "cd" * 32):
        _assert_not_echoed(cli("verify", str(signed), "--keyring", str(ring), "--policy-file", value), secret)
        _assert_not_echoed(cli("sign", "--key", "a.key", "--", value), secret)
        _assert_not_echoed(cli("run", "--", value), secret)
    named = cli("verify", str(signed), "--keyring", str(ring), "--policy-file", "policies/main")
    assert named.code == 2 and "policies/main: policy file not found" in named.err


def test_a_base64_seed_or_a_token_given_as_a_key_path_is_not_repeated(cli: Cli, keyed: tuple[str, Path, Path]) -> None:
    """Review (adv-io2): a seed in base64 or base64url (how CI secrets often hold keys), an
    encrypted PKCS#8 body line, a JSON web token or a GitHub token given as --key, --keyring,
    --public-key or keys show was repeated whole: 'CGaiLU...iPEY=: key file not found'."""
    import base64

    from attestkit.core.textsafe import shown_argument

    _, signed, _ = keyed
    seed = bytes(range(1, 33))
    encrypted = "MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBATje9ggDfAZbCSlfF+"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    values = [base64.b64encode(seed).decode(), base64.urlsafe_b64encode(seed).decode().rstrip("="), encrypted, jwt]
    values += [base64.b64encode(seed * 2).decode(), "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"]
    for value in values:
        for args in (
            ["sign", str(signed), "--key", value, "-o", "out.json"],
            ["verify", str(signed), "--keyring", value],
            ["verify", str(signed), "--public-key", value],
            ["keys", "show", value],
        ):
            result = cli(*args)
            assert result.code == 2 and value not in result.err and "not shown" in result.err, result.err
            assert_one_line_error(result)
    for path in ("keys/ci", "./ed25519", "a.key", "ci-signing-key", "release/2026-01-01T00:00:00Z.key", "x" * 43):
        assert shown_argument(path, "key file") == path


def test_a_described_name_says_how_to_have_it_named(cli: Cli, tmp_path: Path) -> None:
    """Review (adv-io2): ``--key logkey`` or ``--secret-file hooksecret`` (a real name with no /
    or .) was 'the key file value (6 characters, not shown)', with no way to tell which file
    was missing; a described --secret-env read 'environment variable the --secret-env value ...'."""
    missing = cli("webhook", "sign", "--secret-file", "hooksecret", "--scheme", "github", "-", stdin=b"{}")
    assert missing.code == 2 and "./NAME" in missing.err and "hooksecret" not in missing.err
    unset = cli("webhook", "sign", "--secret-env", "hook_secret", "--scheme", "github", "-", stdin=b"{}")
    assert unset.code == 2 and "environment variable the" not in unset.err and "upper-case" in unset.err
    assert "hook_secret" not in unset.err
    named = cli("webhook", "sign", "--secret-file", "./hooksecret", "--scheme", "github", "-", stdin=b"{}")
    assert named.code == 2 and "./hooksecret: webhook secret file not found" in named.err
