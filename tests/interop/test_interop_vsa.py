"""A signed verdict (issue 18.4): ``verify --summary-out`` writes a SLSA VSA v1, ``verify --summary`` checks it.

in-toto-attestation's VSA v1 protobuf parses what attestkit writes (unknown fields refused);
securesystemslib verifies the envelope with the verifier's key loaded its usual way.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.intoto.vsa import (
    POLICY_SET_URI,
    VERIFIED_LEVEL,
    VSA_TYPE,
    JudgedReceipt,
    PolicyRef,
    check_summary,
    digests_of,
    policy_descriptor,
    sign_summary,
    summary_statement,
)
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json
from tests.interop_helpers import NOW_DT, statement_of

GATE = "https://ci.example.com/gates/release"
POLICY = b"verification:\n  rules:\n    - {name: build, type: step-required, step: build}\n"


@pytest.fixture()
def gate(tmp_path: Path) -> tuple[PrivateKey, Path, Path]:
    key = PrivateKey.from_seed(b"\x07" * 32)
    private = tmp_path / "gate.pem"
    private.write_bytes(key.to_pem())
    private.chmod(0o600)
    public = tmp_path / "gate.pub"
    public.write_text(key.public_key.text + "\n")
    return key, private, public


def _statement(path: Path) -> dict[str, Any]:
    return statement_of(json.loads(path.read_text()))


def _setup(tmp_path: Path, key: PrivateKey) -> tuple[Path, Path, Path]:
    good = write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    bad_receipt = sign_receipt(make_receipt(), key)
    bad_receipt["steps"][0]["exit_code"] = 1
    bad = write_json(tmp_path / "bad.json", bad_receipt)
    policy = tmp_path / "release.yaml"
    policy.write_bytes(POLICY)
    return good, bad, policy


def test_summary_written_and_checked(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, gate: tuple[PrivateKey, Path, Path]
) -> None:
    gate_key, gate_private, gate_public = gate
    good, _, policy = _setup(tmp_path, key)
    vsa = tmp_path / "gate.vsa.json"
    common = ["--public-key", key.public_key.text, "--now", NOW, "--policy-file", str(policy)]
    wrote = cli(
        "verify", str(good), *common, "--summary-out", str(vsa), "--key", str(gate_private), "--verifier-id", GATE
    )
    assert wrote.code == 0, wrote.err
    assert "summary (PASSED, 1 receipts) written" in wrote.err
    statement = _statement(vsa)
    assert statement["predicateType"] == VSA_TYPE
    predicate = statement["predicate"]
    assert predicate["verifier"] == {"id": GATE} and predicate["verificationResult"] == "PASSED"
    assert predicate["timeVerified"] == "2026-11-20T12:00:00Z" and predicate["verifiedLevels"] == [VERIFIED_LEVEL]
    assert predicate["policy"] == {"uri": str(policy), "digest": digests_of(POLICY)}
    assert predicate["policy"]["digest"]["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert predicate["inputAttestations"] == [{"uri": str(good), "digest": digests_of(good.read_bytes())}]
    assert statement["subject"] == [{"name": "dist/app.bin", "digest": {"blake3": "cd" * 32}}]
    # A later stage: the summary vouches for the receipt, wherever it now lives, under that policy.
    moved = tmp_path / "elsewhere.json"
    moved.write_bytes(good.read_bytes())
    checked = cli(
        "verify", "--now", NOW, "--summary", str(vsa), "--summary-key", str(gate_public), str(moved), "--json"
    )
    assert checked.code == 0, checked.out + checked.err
    line = checked.json_lines()[0]
    assert line["valid"] and line["verifier"] == GATE and line["receipts"] == [str(moved)]
    assert line["signed_by"] == gate_key.public_key.text
    pinned = cli(
        "verify",
        "--now",
        NOW,
        "--summary",
        str(vsa),
        "--summary-key",
        str(gate_public),
        "--verifier-id",
        GATE,
        "--policy-file",
        str(policy),
        str(good),
    )
    assert pinned.code == 0 and pinned.out.startswith("VALID"), pinned.out + pinned.err


def test_summary_check_failures(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, gate: tuple[PrivateKey, Path, Path]
) -> None:
    _, gate_private, gate_public = gate
    good, bad, policy = _setup(tmp_path, key)
    vsa = tmp_path / "gate.vsa.json"
    common = ["--public-key", key.public_key.text, "--now", NOW, "--policy", "steps-succeeded"]
    cli("verify", str(good), *common, "--summary-out", str(vsa), "--key", str(gate_private))
    base = ["verify", "--now", NOW, "--summary", str(vsa), "--summary-key", str(gate_public)]
    other = PrivateKey.generate().public_key.text
    wrong_key = cli("verify", "--now", NOW, "--summary", str(vsa), "--summary-key", other, str(good))
    assert wrong_key.code == 1 and "no signature on the summary verifies" in wrong_key.out
    not_covered = cli(*base, str(bad))
    assert not_covered.code == 1 and "not among the receipts the summary covers" in not_covered.out
    wrong_id = cli(*base, "--verifier-id", GATE, str(good))
    assert wrong_id.code == 1 and "verifier id is" in wrong_id.out
    wrong_policy = cli(*base, "--policy-file", str(policy), str(good))
    assert wrong_policy.code == 1 and "policy is not the one given" in wrong_policy.out
    same_policy = cli(*base, "--policy", "steps-succeeded", str(good))
    assert same_policy.code == 0, same_policy.out
    # A FAILED verdict is signed as such, and never vouches.
    failed = tmp_path / "failed.vsa.json"
    run = cli("verify", str(good), str(bad), *common, "--summary-out", str(failed), "--key", str(gate_private))
    assert run.code == 1 and _statement(failed)["predicate"]["verificationResult"] == "FAILED"
    refused = cli("verify", "--now", NOW, "--summary", str(failed), "--summary-key", str(gate_public), str(good))
    assert refused.code == 1 and "verificationResult is 'FAILED'" in refused.out
    # A receipt envelope is not a summary, and a summary is not a receipt.
    as_receipt = cli("verify", str(vsa), "--public-key", str(gate_public), "--now", NOW)
    assert as_receipt.code == 1 and "verify --summary FILE" in as_receipt.out
    not_a_summary = cli(*base, "--json")
    # A summary alone vouches for nothing: asking it to is a usage error, never a pass.
    assert not_a_summary.code == 2 and "needs the RECEIPT files" in not_a_summary.err
    garbage = write_json(tmp_path / "junk.json", {"payloadType": "x", "payload": "", "signatures": []})
    junk = cli("verify", "--summary", str(garbage), "--summary-key", str(gate_public), str(good))
    assert junk.code == 1 and "not a DSSE envelope" in junk.out
    no_key = cli("verify", "--summary", str(vsa))
    assert no_key.code == 2 and "--summary-key" in no_key.err
    assert_one_line_error(no_key)
    clash = cli(*base, "--public-key", key.public_key.text, str(good))
    assert clash.code == 2 and "does not take --public-key" in clash.err


def test_no_summary_on_exit_2_and_atomic(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, gate: tuple[PrivateKey, Path, Path]
) -> None:
    _, gate_private, _ = gate
    good, _, _ = _setup(tmp_path, key)
    vsa = tmp_path / "gate.vsa.json"
    common = ["--public-key", key.public_key.text, "--now", NOW, "--summary-out", str(vsa), "--key", str(gate_private)]
    missing = cli("verify", str(good), str(tmp_path / "missing.json"), *common)
    assert missing.code == 2 and not vsa.exists() and "no summary written" in missing.err
    vsa.write_text("previous summary\n")
    again = cli("verify", str(good), str(tmp_path / "missing.json"), *common)
    assert again.code == 2 and vsa.read_text() == "previous summary\n"  # left as it was
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    bad_key.chmod(0o600)
    unusable = cli("verify", str(good), *common[:-1], str(bad_key))
    assert unusable.code == 2 and vsa.read_text() == "previous summary\n"
    assert list(tmp_path.glob("*.tmp*")) == []
    stray_key = cli("verify", str(good), "--public-key", key.public_key.text, "--key", str(gate_private))
    assert stray_key.code == 2 and "needs --summary-out" in stray_key.err


def test_peers_parse_and_verify_the_summary(
    tmp_path: Path, key: PrivateKey, gate: tuple[PrivateKey, Path, Path]
) -> None:
    gate_key, _, _ = gate
    from google.protobuf import json_format

    vsa_pb2 = pytest.importorskip("in_toto_attestation.predicates.vsa.v1.vsa_pb2")
    statement_module = pytest.importorskip("in_toto_attestation.v1.statement")
    statement_pb2 = pytest.importorskip("in_toto_attestation.v1.statement_pb2")
    dsse = pytest.importorskip("securesystemslib.dsse")
    signer = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = json.dumps(sign_receipt(make_receipt(), key)).encode()
    judged = [JudgedReceipt("r.json", digests_of(data), {"dist/app.bin": {"blake3": "cd" * 32}})]
    policies = [PolicyRef("steps-succeeded"), PolicyRef("p.yaml", POLICY)]
    document = summary_statement(judged, policies, passed=True, verifier_id=GATE, time_verified=NOW_DT)
    envelope = sign_summary(document, gate_key)
    # The SLSA spec makes verifiedLevels an array of strings; in-toto-attestation's vsa.proto (0.9.3
    # and upstream) declares a single string, so that one field is checked against the spec instead.
    predicate = dict(document["predicate"])
    assert predicate.pop("verifiedLevels") == [VERIFIED_LEVEL]
    parsed = json_format.Parse(json.dumps(predicate), vsa_pb2.VerificationSummary())
    assert parsed.verifier.id == GATE and parsed.verification_result == "PASSED"
    assert (
        parsed.policy.uri == POLICY_SET_URI
        and parsed.input_attestations[0].digest["sha256"] == judged[0].digest["sha256"]
    )
    statement_module.Statement.copy_from_pb(
        json_format.Parse(json.dumps(document), statement_pb2.Statement())
    ).validate()
    assert json_format.MessageToDict(parsed)["timeVerified"] == predicate["timeVerified"]
    loaded = signer.SSlibKey.from_crypto(load_pem_public_key(gate_key.public_key.to_pem()))
    dsse.Envelope.from_dict(copy.deepcopy(envelope)).verify([loaded], 1)  # from_dict consumes its argument
    assert check_summary(
        envelope, [gate_key.public_key], source="s", receipts=[("r.json", data)], policies=policies
    ).valid
    # The order of policies matters: it is the order they were applied and reported in.
    reordered = check_summary(envelope, [gate_key.public_key], source="s", policies=policies[::-1])
    assert not reordered.valid


def test_policy_descriptor_forms() -> None:
    assert policy_descriptor([PolicyRef("a.rego", b"package x")])["uri"] == "a.rego"
    assert policy_descriptor([])["uri"] == "https://attestkit.dev/policy/none"
    both = policy_descriptor([PolicyRef("require-tests"), PolicyRef("a.rego", b"package x")])
    assert both["uri"] == POLICY_SET_URI and set(both["digest"]) == {"sha256", "blake3"}


def test_summary_cannot_vouch_beyond_what_was_checked(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, gate: tuple[PrivateKey, Path, Path]
) -> None:
    """Adversarial review: a summary must not launder an untrusted receipt or outlive its day."""
    _, gate_key, gate_public = gate
    good = write_json(tmp_path / "good.json", sign_receipt(make_receipt(), key))
    laundering = cli(
        "verify", str(good), "--integrity-only", "--now", NOW, "--summary-out", str(tmp_path / "s.json"),
        "--key", str(gate_key),
    )  # fmt: skip
    assert laundering.code == 2 and "--integrity-only" in laundering.err and not (tmp_path / "s.json").exists()
    vsa = tmp_path / "gate.vsa.json"
    made = cli(
        "verify", str(good), "--public-key", key.public_key.text, "--now", NOW, "--summary-out", str(vsa),
        "--key", str(gate_key),
    )  # fmt: skip
    assert made.code == 0, made.err
    check = ["verify", "--summary", str(vsa), "--summary-key", str(gate_public), str(good)]
    assert cli(*check, "--now", NOW).code == 0
    a_month_later = cli(*check, "--now", "2026-12-20T12:00:00Z")
    assert a_month_later.code == 1 and "older than" in a_month_later.out
    assert cli(*check, "--now", "2026-12-20T12:00:00Z", "--summary-max-age", "60d").code == 0
    assert cli(*check[:-1], "--now", NOW).code == 2  # no receipt: nothing to vouch for
