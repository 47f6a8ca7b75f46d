"""Standard predicates (issue 18.3): SLSA Provenance v1 and in-toto Test Result v0.1.

Each is a signed DSSE envelope that round-trips through ``verify``; in-toto-attestation's own
protobuf definitions parse every predicate attestkit writes, refusing unknown fields.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.intoto.export import make_envelope
from attestkit.core.intoto.predicates import (
    BUILD_TYPE,
    PROVENANCE_TYPE,
    RECEIPT_MEDIA_TYPE,
    TEST_RESULT_TYPE,
    protobuf_time,
    provenance,
    test_result,
)
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import UsageError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json
from tests.interop_helpers import NOW_DT, first_failure, resigned, statement_of, trusting

BUILDER = "https://ci.example.com/runners/linux@v2"


def _receipt(key: PrivateKey) -> dict[str, Any]:
    receipt = make_receipt()
    receipt["steps"][0]["inputs"] = [{"path": "src/app.c", "hash": "blake3:" + "12" * 32}]
    receipt["steps"].append(
        {
            "name": "test",
            "command": "make test",
            "exit_code": 0,
            "duration_secs": 20,
            "start_time": "2026-11-20T09:59:13+01:00",
            "end_time": "2026-11-20T09:59:33.123Z",
        }
    )
    return sign_receipt(receipt, key)


def _parse_with_in_toto_attestation(statement: dict[str, Any]) -> Any:
    """Parse the statement and its predicate with the peer's protobuf definitions (unknown fields refused)."""
    from google.protobuf import json_format

    statement_pb2 = pytest.importorskip("in_toto_attestation.v1.statement_pb2")
    wrapper = pytest.importorskip("in_toto_attestation.v1.statement")
    parsed = json_format.Parse(json.dumps(statement), statement_pb2.Statement())
    wrapper.Statement.copy_from_pb(parsed).validate()
    if statement["predicateType"] == PROVENANCE_TYPE:
        module = pytest.importorskip("in_toto_attestation.predicates.provenance.v1.provenance_pb2")
        message = module.Provenance()
    else:
        module = pytest.importorskip("in_toto_attestation.predicates.test_result.v0.test_result_pb2")
        message = module.TestResult()
    return json_format.Parse(json.dumps(statement["predicate"]), message)


def test_provenance_fields(key: PrivateKey) -> None:
    receipt = _receipt(key)
    predicate = provenance(receipt, BUILDER)
    definition = predicate["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"]["steps"] == [
        {"name": "build", "command": "make"},
        {"name": "test", "command": "make test"},
    ]
    assert definition["externalParameters"]["pipeline"] == {"digest": {"blake3": "ab" * 32}}
    assert definition["resolvedDependencies"] == [{"name": "src/app.c", "digest": {"blake3": "12" * 32}}]
    run = predicate["runDetails"]
    assert run["builder"] == {"id": BUILDER}
    # The earliest start (08:59:13Z, from +01:00) and the latest end, in protobuf's form.
    assert run["metadata"] == {"startedOn": "2026-11-20T08:59:13Z", "finishedOn": "2026-11-20T09:59:33.123Z"}
    assert run["byproducts"][0]["mediaType"] == RECEIPT_MEDIA_TYPE
    with pytest.raises(UsageError, match="builder id"):
        provenance(receipt, " ")


def test_protobuf_time_matches_protobuf() -> None:
    from google.protobuf import timestamp_pb2

    for text in ["2026-11-20T09:59:12Z", "2026-11-20T09:59:12.5Z", "2026-11-20T09:59:12.000123+02:00"]:
        moment = parse_rfc3339(text)
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(moment)
        assert protobuf_time(moment) == stamp.ToJsonString()


@pytest.mark.parametrize("fmt", ["slsa-provenance", "test-result"])
def test_round_trip_and_peer_parse(key: PrivateKey, fmt: str) -> None:
    envelope = make_envelope(
        _receipt(key), key, trusting(key), fmt=fmt, builder_id=BUILDER if fmt != "test-result" else None
    )
    statement = statement_of(envelope)
    assert statement["predicateType"] == (PROVENANCE_TYPE if fmt == "slsa-provenance" else TEST_RESULT_TYPE)
    parsed = _parse_with_in_toto_attestation(statement)
    if fmt == "test-result":
        assert parsed.result == "PASSED" and len(parsed.configuration) == 2
    else:
        assert parsed.run_details.builder.id == BUILDER
    result = verify_receipt(envelope, trusted_keys=[key.public_key], now=NOW_DT)
    assert result.valid, [c.message for c in result.failed_checks]
    assert not verify_receipt(envelope, trusted_keys=[PrivateKey.generate().public_key], now=NOW_DT).valid
    # The peer's own serialisation of what it parsed still verifies (protobuf layout, doubles).
    from google.protobuf import json_format

    reserialised = dict(statement, predicate=json_format.MessageToDict(parsed))
    again = verify_receipt(resigned(reserialised, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert again.valid, [c.message for c in again.failed_checks]


def test_test_result_verdicts(key: PrivateKey) -> None:
    def verdict(results: dict[str, Any]) -> str:
        receipt = make_receipt(attestations={"test": {"type": "attest/test", "predicate": {"test_results": results}}})
        return str(test_result(receipt)["result"])

    assert verdict({"total": 5, "passed": 5, "failed": 0}) == "PASSED"
    assert verdict({"total": 5, "passed": 4, "failed": 0, "skipped": 1}) == "WARNED"
    assert verdict({"total": 5, "passed": 4, "failed": 1}) == "FAILED"
    assert verdict({"total": 0, "passed": 0, "failed": 0}) == "FAILED"
    # Adversarial review: counts that all passed beside a step that exited 1 were exported PASSED.
    failing = make_receipt(
        attestations={
            "test": {"type": "attest/test", "predicate": {"test_results": {"total": 1, "passed": 1, "failed": 0}}}
        }
    )
    failing["steps"][0]["exit_code"] = 1
    assert test_result(failing)["result"] == "FAILED"
    with pytest.raises(UsageError, match="no test attestation"):
        test_result(make_receipt(attestations={}))


def test_a_predicate_that_says_more_than_the_receipt_fails(key: PrivateKey) -> None:
    envelope = make_envelope(_receipt(key), key, trusting(key), fmt="slsa-provenance", builder_id=BUILDER)
    base = statement_of(envelope)

    def reason(edit: Callable[[dict[str, Any]], object]) -> str:
        statement = copy.deepcopy(base)
        edit(statement)
        return first_failure(statement, key)

    assert "buildDefinition differ" in reason(
        lambda s: s["predicate"]["buildDefinition"]["externalParameters"]["steps"].pop()
    )
    assert "runDetails differ" in reason(
        lambda s: s["predicate"]["runDetails"]["metadata"].update(startedOn="2020-01-01T00:00:00Z")
    )
    assert "exactly one" in reason(lambda s: s["predicate"]["runDetails"].update(byproducts=[]))
    assert "builder.id is missing" in reason(lambda s: s["predicate"]["runDetails"].update(builder={}))
    # The receipt it carries is judged like any receipt: tampering with it breaks its own signature.
    tampered = copy.deepcopy(base)
    carried = json.loads(base64.b64decode(tampered["predicate"]["runDetails"]["byproducts"][0]["content"]))
    carried["steps"][0]["command"] = "make release-without-tests"
    tampered["predicate"] = provenance(carried, BUILDER)
    result = verify_receipt(resigned(tampered, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert not result.valid and any(c.code == "inner-signature" for c in result.failed_checks)


def test_cli_export_formats(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    private = tmp_path / "k.pem"
    private.write_bytes(key.to_pem())
    private.chmod(0o600)
    receipt = write_json(tmp_path / "r.json", _receipt(key))
    common = ["--key", str(private), "--public-key", key.public_key.text, "--now", NOW]
    for fmt, extra in [("slsa-provenance", ["--builder-id", BUILDER]), ("test-result", [])]:
        out = tmp_path / f"{fmt}.json"
        done = cli("export", str(receipt), "--format", fmt, *extra, *common, "-o", str(out))
        assert done.code == 0, done.err
        verified = cli(
            "verify", str(out), "--public-key", key.public_key.text, "--now", NOW, "--policy", "require-tests"
        )
        assert verified.code == 0, verified.out + verified.err
    no_builder = cli("export", str(receipt), "--format", "slsa-provenance", *common)
    assert no_builder.code == 2 and "--builder-id" in no_builder.err
    assert_one_line_error(no_builder)
    stray = cli("export", str(receipt), "--format", "test-result", "--builder-id", BUILDER, *common)
    assert stray.code == 2 and "only for --format slsa-provenance" in stray.err
    untested = write_json(tmp_path / "u.json", sign_receipt(make_receipt(attestations={}), key))
    refused = cli("export", str(untested), "--format", "test-result", *common, "-o", str(tmp_path / "x.json"))
    assert refused.code == 2 and "no test attestation" in refused.err and not (tmp_path / "x.json").exists()
    assert_one_line_error(refused)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(
        [
            PROVENANCE_TYPE,
            TEST_RESULT_TYPE,
            "https://attestkit.dev/receipt/v1",
            "https://slsa.dev/verification_summary/v1",
        ]
    ),
    _JSON,
    _JSON,
)
def test_malformed_statements_never_crash(key: PrivateKey, kind: str, predicate: Any, subjects: Any) -> None:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": kind,
        "predicate": predicate,
    }
    result = verify_receipt(resigned(statement, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert not result.valid and result.checks[0].name == "format"


def test_booleans_are_not_the_integers_the_receipt_records(key: PrivateKey) -> None:
    """Adversarial review: ``true == 1`` in Python, not in JSON; a provenance predicate saying
    ``DEBUG: true`` around a receipt that records ``DEBUG: 1`` says something else."""
    from attestkit.core.receipt.dsse import export_statement, sign_statement

    receipt = sign_receipt(make_receipt(environment={"DEBUG": 1, "PROD": 0}), key)
    statement = export_statement(receipt, "slsa-provenance", builder_id="https://ci.example")
    faithful = verify_receipt(sign_statement(statement, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert faithful.valid, faithful.failed_checks
    statement["predicate"]["buildDefinition"]["internalParameters"]["environment"] = {"DEBUG": True, "PROD": False}
    lying = verify_receipt(sign_statement(statement, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert not lying.valid and "buildDefinition" in " ".join(c.message for c in lying.failed_checks)
