"""`verify --log-proof --log-policy`: the compromise walkthrough of docs/log.md, end to end
through the CLI, plus the library API and the refusals."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.tlog import parse_policy
from attestkit.core.verify.verifier import VerifyOptions, verify_with_options
from attestkit.errors import UsageError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json
from tests.unit.tlog.test_tlog_log import _static_server

ORIGIN = "example.com/ci-log"
WITNESSED_A = "2026-11-20T11:00:00Z"
THEFT = "2026-11-25T00:00:00Z"
WITNESSED_B = "2026-11-26T08:00:00Z"
NOW = "2026-11-27T00:00:00Z"


def _ok(result: CliResult) -> CliResult:
    assert result.code == 0, result.err
    return result


def _witnessed_proof(tmp: Path, cli: Callable[..., CliResult], receipt: str, when: str, name: str) -> None:
    """Append, cosign by both witnesses at *when*, prove against the cosigned checkpoint."""
    _ok(cli("log", "append", "ci-log", receipt))
    vkey = (tmp / "ci-log.vkey").read_text().strip()
    for witness in ("w1", "w2"):
        source = "ci-log/checkpoint" if witness == "w1" else f"{name}.w1"
        _ok(
            cli(
                "log",
                "cosign",
                source,
                "--key",
                f"{witness}.key",
                "--state",
                f"{witness}-state",
                "--log-vkey",
                vkey,
                "--log",
                "ci-log",
                "--now",
                when,
                "-o",
                f"{name}.{witness}",
            )
        )
    _ok(cli("log", "prove", "ci-log", receipt, "--checkpoint", f"{name}.w2", "-o", f"{name}.tlog-proof"))


@pytest.fixture()
def walkthrough(tmp_path: Path, cli: Callable[..., CliResult]) -> Path:
    key = PrivateKey.from_seed(b"\x11" * 32)
    (tmp_path / "ci.pub").write_text(key.public_key.text + "\n")
    _ok(cli("keys", "trust", "ci.pub", "--keyring", "ring.yaml", "--identity", "ci@example.com"))
    (tmp_path / "ci-log.vkey").write_text(_ok(cli("log", "init", "ci-log", "--origin", ORIGIN)).out)
    w1 = _ok(cli("log", "witness", "keygen", "--name", "w1.example/witness", "--key", "w1.key")).out.strip()
    w2 = _ok(cli("log", "witness", "keygen", "--name", "w2.example/witness", "--key", "w2.key")).out.strip()
    policy = f"log {(tmp_path / 'ci-log.vkey').read_text().strip()}\nwitness a {w1}\nwitness b {w2}\ngroup both all a b\nquorum both\n"
    (tmp_path / "policy.txt").write_text(policy)
    (tmp_path / "ci.key").write_bytes(key.to_pem())
    (tmp_path / "ci.key").chmod(0o600)
    early = sign_receipt(make_receipt(pipeline_hash="blake3:" + "01" * 32), key)  # 2026-11-20T10:00:00Z
    write_json(tmp_path / "early.json", early)
    _witnessed_proof(tmp_path, cli, "early.json", WITNESSED_A, "early")
    # the key is stolen at THEFT; the thief backdates a receipt and gets it logged and witnessed later
    backdated = sign_receipt(make_receipt(pipeline_hash="blake3:" + "02" * 32, timestamp="2026-11-20T10:30:00Z"), key)
    write_json(tmp_path / "backdated.json", backdated)
    _witnessed_proof(tmp_path, cli, "backdated.json", WITNESSED_B, "backdated")
    _ok(
        cli(
            "keys",
            "revoke",
            key.public_key.text,
            "--keyring",
            "ring.yaml",
            "--reason",
            "key-compromise",
            "--effective-date",
            THEFT,
        )
    )
    return tmp_path


def _verify(cli: Callable[..., CliResult], receipt: str, *extra: str) -> CliResult:
    return cli("verify", receipt, "--trusted-keys-file", "ring.yaml", "--now", NOW, "--json", *extra)


def test_compromise_walkthrough(walkthrough: Path, cli: Callable[..., CliResult]) -> None:
    proof = ["--log-policy", "policy.txt", "--log-proof"]
    early = _verify(cli, "early.json", *proof, "early.tlog-proof")
    assert early.code == 0, early.out + early.err
    line = json.loads(early.out.splitlines()[0])
    assert line["valid"] is True and line["chain_of_trust"] == "verified"
    assert line["transparency"]["origin"] == ORIGIN
    assert line["transparency"]["index"] == 0
    assert line["transparency"]["witnessed_at"] == WITNESSED_A
    backdated = _verify(cli, "backdated.json", *proof, "backdated.tlog-proof")
    assert backdated.code == 1
    assert json.loads(backdated.out.splitlines()[0])["transparency"]["witnessed_at"] == WITNESSED_B
    assert json.loads(backdated.out.splitlines()[0])["chain_of_trust"] == "revoked"
    # no proof: today's behaviour, every receipt of a compromised key is rejected
    assert _verify(cli, "early.json").code == 1
    assert "transparency" not in json.loads(_verify(cli, "early.json").out.splitlines()[0])
    # somebody else's proof proves nothing about this receipt
    stolen = _verify(cli, "backdated.json", *proof, "early.tlog-proof")
    assert stolen.code == 1
    assert json.loads(stolen.out.splitlines()[0])["transparency"]["valid"] is False


def test_a_log_entry_of_another_key_does_not_spare_a_stolen_key(
    walkthrough: Path, cli: Callable[..., CliResult]
) -> None:
    # Before the theft the thief logs a receipt signed by a key of their own (the log only asks
    # that a receipt verify against its own key); after it, they wrap that receipt in a DSSE
    # envelope signed with the stolen CI key. The log proves when the *inner* receipt, signed by
    # the thief's key, existed: nothing about the CI key's signature, made after the theft.
    thief = PrivateKey.from_seed(b"\x22" * 32)
    write_json(walkthrough / "evil.json", sign_receipt(make_receipt(pipeline_hash="blake3:" + "03" * 32), thief))
    _witnessed_proof(walkthrough, cli, "evil.json", WITNESSED_A, "evil")
    _ok(
        cli(
            "export", "evil.json", "--public-key", thief.public_key.text, "--key", "ci.key",
            "--now", "2026-11-26T00:00:00Z", "-o", "evil.intoto.json",
        )
    )  # fmt: skip
    wrapped = _verify(cli, "evil.intoto.json", "--log-policy", "policy.txt", "--log-proof", "evil.tlog-proof")
    assert wrapped.code == 1, wrapped.out
    line = json.loads(wrapped.out.splitlines()[0])
    assert line["valid"] is False and line["chain_of_trust"] == "revoked"
    # the CI key's own receipt, wrapped by the CI key, is still spared by its early entry
    ci = (walkthrough / "ci.pub").read_text().strip()
    _ok(cli("export", "early.json", "--public-key", ci, "--key", "ci.key", "--now", NOW, "-o", "early.intoto.json"))
    spared = _verify(cli, "early.intoto.json", "--log-policy", "policy.txt", "--log-proof", "early.tlog-proof")
    assert spared.code == 0, spared.out + spared.err


def test_an_unsigned_receipt_with_a_log_proof_is_invalid_not_unchecked(
    walkthrough: Path, cli: Callable[..., CliResult]
) -> None:
    early = json.loads((walkthrough / "early.json").read_text())
    write_json(walkthrough / "unsigned.json", {k: v for k, v in early.items() if k != "signature"})
    write_json(walkthrough / "garbled.json", {**early, "signature": "ed25519:zz"})
    done = _verify(
        cli,
        "early.json",
        "unsigned.json",
        "garbled.json",
        "--log-policy",
        "policy.txt",
        "--log-proof",
        "early.tlog-proof",
    )
    assert done.code == 1, done.out + done.err  # checked and invalid (contract section 4), not exit 2
    lines = [json.loads(line) for line in done.out.splitlines()]
    assert [line["valid"] for line in lines] == [True, False, False]
    assert all("error" not in line and line["transparency"]["valid"] is False for line in lines[1:])


def test_require_log_and_policy_rules(walkthrough: Path, cli: Callable[..., CliResult]) -> None:
    shutil.copy(walkthrough / "early.json", walkthrough / "other.json")
    required = _verify(cli, "early.json", "--log-policy", "policy.txt", "--require-log")
    assert required.code == 1
    checks = {c["name"]: c for c in json.loads(required.out.splitlines()[0])["checks"]}
    assert checks["transparency"]["passed"] is False
    usage = _verify(cli, "early.json", "--log-proof", "early.tlog-proof")
    assert usage.code == 2
    assert_one_line_error(usage)
    assert _verify(cli, "early.json", "--require-log").code == 2
    one_witness = walkthrough / "one.txt"
    one_witness.write_text((walkthrough / "policy.txt").read_text().replace("quorum both", "quorum a"))
    assert _verify(cli, "early.json", "--log-policy", "one.txt", "--log-proof", "early.tlog-proof").code == 0
    # a checkpoint with only one of the two required cosignatures fails the quorum
    text = (walkthrough / "early.tlog-proof").read_text()
    (walkthrough / "short.tlog-proof").write_text("".join(x for x in text.splitlines(True) if "w2.example" not in x))
    short = _verify(cli, "early.json", "--log-policy", "policy.txt", "--log-proof", "short.tlog-proof")
    assert short.code == 1 and "quorum" in short.out


def test_library_api_and_proofs_made_over_http(walkthrough: Path, cli: Callable[..., CliResult]) -> None:
    from attestkit.adapters.files import load_trusted_keys_file
    from attestkit.core.timeutil import parse_rfc3339

    vkey = (walkthrough / "ci-log.vkey").read_text().strip()
    with _static_server(walkthrough / "ci-log") as url:
        _ok(cli("log", "prove", url, "early.json", "--vkey", vkey, "--checkpoint", "early.w2", "-o", "http.tlog-proof"))
    assert (walkthrough / "http.tlog-proof").read_bytes() == (walkthrough / "early.tlog-proof").read_bytes()
    options = VerifyOptions(
        trusted=load_trusted_keys_file(str(walkthrough / "ring.yaml")),
        now=parse_rfc3339(NOW),
        log_proofs=((walkthrough / "early.tlog-proof").read_bytes(),),
        log_policy=parse_policy((walkthrough / "policy.txt").read_bytes()),
    )
    result = verify_with_options((walkthrough / "early.json").read_bytes(), options, source="early.json")
    assert result.valid and result.to_dict()["transparency"]["witnessed_at"] == WITNESSED_A
    with pytest.raises(UsageError):
        VerifyOptions(trusted=options.trusted, log_proofs=options.log_proofs)


def test_a_witnessed_receipt_dated_after_the_compromise_is_rejected(
    walkthrough: Path, cli: Callable[..., CliResult]
) -> None:
    """Adversarial review: the witnessed time alone decided, so a receipt stamped after the
    revocation date but logged before it was spared (VALID), once the key was marked key-compromise
    (by `keys revoke` or by a second trust source over a `superseded` one)."""
    key = PrivateKey.from_seed(b"\x11" * 32)
    forward = sign_receipt(make_receipt(pipeline_hash="blake3:" + "03" * 32, timestamp="2026-11-26T00:00:00Z"), key)
    write_json(walkthrough / "forward.json", forward)
    _witnessed_proof(walkthrough, cli, "forward.json", "2026-11-24T00:00:00Z", "forward")
    proof = ["--log-policy", "policy.txt", "--log-proof", "forward.tlog-proof"]
    result = _verify(cli, "forward.json", *proof)
    assert result.code == 1, result.out + result.err
    assert json.loads(result.out.splitlines()[0])["chain_of_trust"] == "revoked"
    # Two sources: one supersedes the key from THEFT, the other marks it compromised later.
    ring = (walkthrough / "ring.yaml").read_text()
    (walkthrough / "superseded.yaml").write_text(ring.replace("key-compromise", "superseded"))
    later = ring.replace("key-compromise", "key-compromise").replace("2026-11-25T00:00:00Z", "2026-12-20T00:00:00Z")
    assert later != ring
    (walkthrough / "later.yaml").write_text(later)
    for order in (["superseded.yaml", "later.yaml"], ["later.yaml", "superseded.yaml"]):
        args = [a for name in order for a in ("--trusted-keys-file", name)]
        both = cli("verify", "forward.json", *args, "--now", NOW, "--json", *proof)
        assert both.code == 1, both.out + both.err
