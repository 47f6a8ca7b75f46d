"""in-toto export other tools accept (issue 18.1) and statements other tools wrote (18.2).

Peers are their own libraries: securesystemslib and in-toto load keys their usual way (a PEM
public key, default key id) and verify attestkit's envelopes; in-toto-attestation's protobuf
helpers build statements attestkit verifies.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.digest import hash_path
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.intoto.export import make_envelope
from attestkit.core.intoto.statement import intoto_key_id, subject_problem
from attestkit.core.receipt.dsse import PAYLOAD_TYPE, PREDICATE_TYPE, statement_for
from attestkit.errors import ArtifactError, UsageError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json
from tests.interop_helpers import NOW_DT, first_failure, resigned, statement_of, trusting, write_key_files


def _artifacts(root: Path) -> Path:
    (root / "dist" / "docs").mkdir(parents=True)
    (root / "dist" / "app.bin").write_bytes(b"abc")
    (root / "dist" / "docs" / "README.txt").write_bytes(b"hello\n")
    (root / "report.txt").write_bytes(b"all good\n")
    return root


def _output(root: Path, rel: str) -> dict[str, Any]:
    return {"path": rel, "hash": hash_path(root / rel), "size_bytes": 3}


def _receipt_for(root: Path, key: PrivateKey, outputs: list[str]) -> dict[str, Any]:
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [_output(root, rel) for rel in outputs]
    for entry in receipt["steps"][0]["outputs"]:
        entry.pop("size_bytes")
    return sign_receipt(receipt, key)


# ---- 18.1: subjects other tools can match ---------------------------------------------------


def test_subjects_carry_sha256_from_the_artifacts(tmp_path: Path, key: PrivateKey) -> None:
    root = _artifacts(tmp_path / "art")
    receipt = _receipt_for(root, key, ["dist/", "report.txt"])
    envelope = make_envelope(receipt, key, trusting(key), artifacts_dir=str(root))
    subjects = {s["name"]: s["digest"] for s in statement_of(envelope)["subject"]}
    assert set(subjects) == {"dist/app.bin", "dist/docs/README.txt", "report.txt"}  # a dir/: one per file
    for name, digest in subjects.items():
        data = (root / name).read_bytes()
        assert digest["sha256"] == hashlib.sha256(data).hexdigest()
        assert "blake3:" + digest["blake3"] == hash_path(root / name)
    assert verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT).valid


def test_export_refuses_artifacts_that_differ(tmp_path: Path, key: PrivateKey) -> None:
    root = _artifacts(tmp_path / "art")
    receipt = _receipt_for(root, key, ["dist/", "report.txt"])
    (root / "dist" / "docs" / "README.txt").write_bytes(b"changed\n")
    with pytest.raises(ArtifactError, match=r"not exported: .*dist/") as caught:
        make_envelope(receipt, key, trusting(key), artifacts_dir=str(root))
    assert caught.value.exit_code == 1 and caught.value.code == "export-artifacts"
    (root / "dist" / "docs" / "README.txt").write_bytes(b"hello\n")
    (root / "report.txt").unlink()
    with pytest.raises(ArtifactError, match=r"report\.txt: missing"):
        make_envelope(receipt, key, trusting(key), artifacts_dir=str(root))


def test_key_id_is_the_securesystemslib_one(key: PrivateKey) -> None:
    signer = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    loaded = signer.SSlibKey.from_crypto(load_pem_public_key(key.public_key.to_pem()))
    assert intoto_key_id(key.public_key) == loaded.keyid
    envelope = make_envelope(sign_receipt(make_receipt(), key), key, trusting(key))
    assert envelope["signatures"][0]["keyid"] == loaded.keyid


def test_nothing_to_name_is_refused(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(steps=[{"name": "lint", "command": "ruff", "exit_code": 0}]), key)
    with pytest.raises(UsageError, match="records no outputs, so the statement would have no subject") as caught:
        make_envelope(receipt, key, trusting(key))
    assert caught.value.code == "export-no-subject"


def test_cli_export_with_and_without_artifacts(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    root = _artifacts(tmp_path / "art")
    private, _ = write_key_files(tmp_path, key)
    receipt = write_json(tmp_path / "r.json", _receipt_for(root, key, ["dist/", "report.txt"]))
    common = ["--key", str(private), "--public-key", key.public_key.text, "--now", NOW]
    out = tmp_path / "r.intoto.json"
    plain = cli("export", str(receipt), *common, "-o", str(out))
    assert plain.code == 0, plain.err
    assert "blake3 digests only" in plain.err and "--artifacts" in plain.err
    subjects = statement_of(json.loads(out.read_text()))["subject"]
    assert [s["name"] for s in subjects] == ["dist/", "report.txt"] and all(
        set(s["digest"]) == {"blake3"} for s in subjects
    )
    full = cli("export", str(receipt), *common, "--artifacts", str(root), "-o", str(out))
    assert full.code == 0 and full.err == "", full.err
    assert all({"sha256", "blake3"} <= set(s["digest"]) for s in statement_of(json.loads(out.read_text()))["subject"])
    verified = cli("verify", str(out), "--public-key", key.public_key.text, "--now", NOW, "--artifacts", str(root))
    assert verified.code == 0, verified.out + verified.err
    # A changed artifact: exit 1, one line naming it, no output written.
    out.unlink()
    (root / "report.txt").write_bytes(b"tampered\n")
    refused = cli("export", str(receipt), *common, "--artifacts", str(root), "-o", str(out))
    assert refused.code == 1 and "report.txt" in refused.err and not out.exists()
    assert_one_line_error(refused)
    missing_dir = cli("export", str(receipt), *common, "--artifacts", str(tmp_path / "nope"))
    assert missing_dir.code == 2 and "no such directory" in missing_dir.err
    nothing = write_json(
        tmp_path / "none.json", sign_receipt(make_receipt(steps=[{"name": "a", "command": "b", "exit_code": 0}]), key)
    )
    empty = cli("export", str(nothing), *common, "-o", str(out))
    assert empty.code == 2 and "no subject" in empty.err and str(nothing) in empty.err and not out.exists()
    assert_one_line_error(empty)


def test_in_toto_verifies_our_envelope_with_its_own_key_loading(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    metadata = pytest.importorskip("in_toto.models.metadata")
    signer = pytest.importorskip("in_toto.models._signer")
    root = _artifacts(tmp_path / "art")
    private, public = write_key_files(tmp_path, key)
    receipt = write_json(tmp_path / "r.json", _receipt_for(root, key, ["dist/"]))
    out = tmp_path / "r.intoto.json"
    done = cli(
        "export",
        str(receipt),
        "--key",
        str(private),
        "--public-key",
        str(public),
        "--artifacts",
        str(root),
        "-o",
        str(out),
    )
    assert done.code == 0, done.err
    envelope = metadata.Metadata.load(str(out))
    envelope.verify_signature(signer.load_public_key_from_file(str(public)))  # raises when it does not verify
    other = PrivateKey.generate()
    other_pub = tmp_path / "other.pem"
    other_pub.write_bytes(other.public_key.to_pem())
    exceptions = pytest.importorskip("in_toto.exceptions")
    with pytest.raises(exceptions.SignatureVerificationError):
        envelope.verify_signature(signer.load_public_key_from_file(str(other_pub)))


def test_we_verify_an_in_toto_signed_statement(tmp_path: Path, key: PrivateKey) -> None:
    metadata = pytest.importorskip("in_toto.models.metadata")
    signer = pytest.importorskip("in_toto.models._signer")
    private, _ = write_key_files(tmp_path, key)
    payload = json.dumps(statement_for(sign_receipt(make_receipt(), key)), sort_keys=True).encode()
    envelope = metadata.Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.create_signature(signer.load_crypto_signer_from_pkcs8_file(str(private)))
    as_dict = envelope.to_dict()
    assert as_dict["signatures"][0]["keyid"] == intoto_key_id(key.public_key)
    result = verify_receipt(as_dict, trusted_keys=[key.public_key], now=NOW_DT)
    assert result.valid, [c.message for c in result.failed_checks]


# ---- 18.2: what other producers write -------------------------------------------------------


def _two_output_statement(key: PrivateKey) -> dict[str, Any]:
    receipt = make_receipt()
    receipt["steps"][0]["outputs"].append({"path": "dist/app.sig", "hash": "blake3:" + "ef" * 32})
    return statement_for(sign_receipt(receipt, key))


def test_tolerated_differences_verify(key: PrivateKey) -> None:
    base = _two_output_statement(key)
    variants = []
    reordered = copy.deepcopy(base)
    reordered["subject"].reverse()
    variants.append(reordered)
    extra = copy.deepcopy(base)
    for subject in extra["subject"]:
        subject["digest"]["sha256"] = "a" * 64
        subject["digest"]["sha512"] = "B" * 128
        subject.update(uri="https://example.com/" + subject["name"], annotations={"k": "v"}, mediaType="x/y")
    variants.append(extra)
    upper = copy.deepcopy(base)
    for subject in upper["subject"]:
        subject["digest"]["blake3"] = subject["digest"]["blake3"].upper()
    variants.append(upper)
    doubles = copy.deepcopy(base)
    doubles["predicate"]["steps"][0]["exit_code"] = 0.0
    doubles["predicate"]["steps"][0]["outputs"][0]["size_bytes"] = 3.0
    variants.append(doubles)
    for statement in variants:
        result = verify_receipt(resigned(statement, key), trusted_keys=[key.public_key], now=NOW_DT)
        assert result.valid, [c.message for c in result.failed_checks]


def test_meaning_changes_fail_with_the_reason(key: PrivateKey) -> None:
    base = _two_output_statement(key)

    def changed(edit: Callable[[dict[str, Any]], object]) -> str:
        statement = copy.deepcopy(base)
        edit(statement)
        return first_failure(statement, key)

    assert "named by no subject" in changed(lambda s: s["subject"].pop())
    assert "not an output the receipt records" in changed(
        lambda s: s["subject"].append({"name": "evil.bin", "digest": {"blake3": "00" * 32}})
    )
    assert "differs from the recorded" in changed(lambda s: s["subject"][0]["digest"].update(blake3="00" * 32))
    assert "no blake3 digest" in changed(
        lambda s: (
            s["subject"][0]["digest"].update(sha256="a" * 64, blake3=None) or s["subject"][0]["digest"].pop("blake3")
        )
    )
    assert "no digest set" in changed(lambda s: s["subject"][0]["digest"].pop("blake3"))
    assert "twice with different digests" in changed(
        lambda s: s["subject"].append({"name": s["subject"][0]["name"], "digest": {"blake3": "00" * 32}})
    )
    assert "not a hex string" in changed(lambda s: s["subject"][0]["digest"].update(sha256="zz"))
    assert "exit_code must be an integer" in changed(lambda s: s["predicate"]["steps"][0].update(exit_code=0.5))
    assert "no subjects" in changed(lambda s: s.update(subject=[]))
    assert "'..' component" in changed(
        lambda s: s["subject"].append({"name": "dist/../x", "digest": {"blake3": "0" * 64}})
    )


def test_in_toto_attestation_builds_statements_we_accept(key: PrivateKey) -> None:
    attestation = pytest.importorskip("in_toto_attestation.v1.statement")
    descriptor = pytest.importorskip("in_toto_attestation.v1.resource_descriptor")
    from google.protobuf import json_format

    receipt = sign_receipt(make_receipt(), key)
    subject = descriptor.ResourceDescriptor(
        name="dist/app.bin", digest={"sha256": "a" * 64, "blake3": "CD" * 32}, annotations={"built-by": "peer"}
    )
    built = attestation.Statement([subject.pb], PREDICATE_TYPE, receipt)
    built.validate()
    payload = json_format.MessageToJson(built.pb).encode()
    assert b'"exit_code": 0.0' in payload  # protobuf Struct: every number is a double
    result = verify_receipt(resigned({}, key, payload), trusted_keys=[key.public_key], now=NOW_DT)
    assert result.valid, [c.message for c in result.failed_checks]
    # A sslib-signed envelope over the same payload (securesystemslib's own DSSE) verifies too.
    dsse = pytest.importorskip("securesystemslib.dsse")
    signer_module = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    envelope = dsse.Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer_module.CryptoSigner(Ed25519PrivateKey.from_private_bytes(key.seed)))
    assert verify_receipt(envelope.to_dict(), trusted_keys=[key.public_key], now=NOW_DT).valid


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=12,
    )
)
def test_malformed_subjects_never_crash(subjects: Any) -> None:
    problem = subject_problem(subjects, make_receipt())
    assert problem is None or isinstance(problem, str)
    assert subject_problem([{"name": "dist/app.bin", "digest": {"blake3": "cd" * 32}}], make_receipt()) is None


def test_canonical_payload_is_what_we_sign(key: PrivateKey) -> None:
    envelope = make_envelope(sign_receipt(make_receipt(), key), key, trusting(key))
    payload = base64.b64decode(envelope["payload"])
    assert payload == canonicalize(json.loads(payload))


def test_verify_artifacts_checks_what_the_statement_adds(tmp_path: Path, key: PrivateKey) -> None:
    root = _artifacts(tmp_path / "art")
    receipt = _receipt_for(root, key, ["dist/", "report.txt"])
    envelope = make_envelope(receipt, key, trusting(key), artifacts_dir=str(root))
    assert verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT, artifacts_dir=str(root)).valid
    # A trusted signer's statement whose sha256 does not describe the file: other tools would match
    # another file, so attestkit does not call it valid against these artifacts.
    statement = statement_of(envelope)
    for subject in statement["subject"]:
        if subject["name"] == "dist/docs/README.txt":
            subject["digest"]["sha256"] = "0" * 64
    lying = resigned(statement, key)
    assert verify_receipt(lying, trusted_keys=[key.public_key], now=NOW_DT).valid  # form only, without files
    result = verify_receipt(lying, trusted_keys=[key.public_key], now=NOW_DT, artifacts_dir=str(root))
    assert not result.valid
    [failed] = result.failed_checks
    assert failed.name == "subjects" and failed.code == "subject-mismatch" and "dist/docs/README.txt" in failed.message


def test_the_subject_check_probes_parents_only(key: PrivateKey) -> None:
    from attestkit.core.intoto.statement import _parents

    assert _parents("a/b/c") == ["a/", "a/b/"] and _parents("dist/") == [] and _parents("x") == []
    assert len(_parents("a/" * 10_000 + "f")) == 64
    # 5,000 directory outputs and 20,000 subjects deep inside them: set probes per parent, not a
    # scan per (subject, directory) pair (this runs before any signature is checked).
    receipt = make_receipt()
    dirs = [f"d{i}/" for i in range(5_000)]
    receipt["steps"][0]["outputs"] = [{"path": d, "hash": "blake3:" + "00" * 32} for d in dirs]
    subjects = [
        {"name": f"d{i % 5_000}/" + "x/" * 40 + f"f{i}", "digest": {"blake3": "11" * 32}} for i in range(20_000)
    ]
    assert subject_problem(subjects, receipt) is None
    deep = "a/" * 100
    receipt["steps"][0]["outputs"].append({"path": deep, "hash": "blake3:" + "00" * 32})
    beyond = [*subjects, {"name": deep + "f", "digest": {"blake3": "11" * 32}}]
    assert "not an output the receipt records" in str(subject_problem(beyond, receipt))  # deeper than 64: exact only


def test_directory_with_a_symlink_and_a_files_map(tmp_path: Path, key: PrivateKey) -> None:
    import os

    from attestkit.core.crypto.digest import tree_manifest

    root = _artifacts(tmp_path / "art")
    os.symlink("app.bin", root / "dist" / "current")
    receipt = make_receipt()
    files = {e.relpath: "blake3:" + e.hexdigest for e in tree_manifest(root / "dist")}
    receipt["steps"][0]["outputs"] = [{"path": "dist/", "hash": hash_path(root / "dist"), "files": files}]
    signed = sign_receipt(receipt, key)
    envelope = make_envelope(signed, key, trusting(key), artifacts_dir=str(root))
    subjects = {s["name"]: s["digest"] for s in statement_of(envelope)["subject"]}
    assert set(subjects) == {"dist/app.bin", "dist/current", "dist/docs/README.txt"}
    assert (
        set(subjects["dist/current"]) == {"blake3"}
        and "blake3:" + subjects["dist/current"]["blake3"] == files["current"]
    )
    result = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT, artifacts_dir=str(root))
    assert result.valid, [c.message for c in result.failed_checks]
    blake3_only = make_envelope(signed, key, trusting(key))  # the files map names every entry, without artifacts
    assert {s["name"] for s in statement_of(blake3_only)["subject"]} == set(subjects)


def test_export_refuses_an_output_that_leaves_the_tree(tmp_path: Path, key: PrivateKey) -> None:
    import os

    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"not an artifact\n")
    root = tmp_path / "art"
    (root / "dist").mkdir(parents=True)
    os.symlink("../../secret.txt", root / "dist" / "app.bin")
    receipt = make_receipt()
    receipt["steps"][0]["outputs"] = [{"path": "dist/app.bin", "hash": hash_path(outside)}]
    with pytest.raises(ArtifactError, match=r"<receipt to export>: not exported: .*outside the artifacts directory"):
        make_envelope(sign_receipt(receipt, key), key, trusting(key), artifacts_dir=str(root))
