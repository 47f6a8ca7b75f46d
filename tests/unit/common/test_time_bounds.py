"""Issue 14.10: boundary times, durations, instants and huge integers stay inside the error model.

Each value here used to raise ``OverflowError`` or a bare ``ValueError`` (aborting a whole bulk
run with exit 2 and handing library callers a non-attestkit exception), or was accepted with
non-ASCII digits that other RFC 3339 readers refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.builtin import builtin_policy
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.produce.producer import finalize_receipt
from attestkit.core.receipt.reader import parse_receipt
from attestkit.core.timeutil import (
    MAX_DURATION,
    format_rfc3339,
    parse_duration,
    parse_instant,
    parse_rfc3339,
)
from attestkit.core.trust.delegation import create_delegation
from attestkit.core.trust.keyring import parse_keyring
from attestkit.errors import MalformedReceiptError, PolicyError, TrustStoreError, UsageError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+01:00",  # an offset that moves the instant before year 1
    "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:59:59-01:00",  # ... or after 9999
    "9999-12-31T23:59:60Z",  # a leap second at the very end
    "9999-12-31T23:59:60.5-00:01",
]
NON_ASCII = [
    "\u0662\u0660\u0662\u0666-11-20T10:00:00Z",  # Arabic-Indic digits
    "2026-11-20T10:00:00\uff3a",  # a full-width Z
    "\uff12\uff10\uff12\uff16-11-20T10:00:00Z",  # full-width digits
    "2026-11-20T10:00:00+\u0660\u0661:00",
]
BAD_DURATIONS = ["999999999999d", "999999999999h", "36526d", "\uff12\uff14h", "\u0662\u0664h", "24\uff48"]
BAD_NOW = [
    "999999999999",
    "253402300800",
    "999999999999.5",
    "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
]


def _signed(receipt: dict[str, Any], key: PrivateKey) -> dict[str, Any]:
    """Sign without the signer's shape check, as a hostile or buggy producer would."""
    body = dict(receipt, signer_public_key=key.public_key.text, signature_algorithm="ed25519")
    return dict(body, signature="ed25519:" + key.sign(canonicalize(body)).hex())


# ---- the readers -------------------------------------------------------------------------


@pytest.mark.parametrize("text", OUT_OF_RANGE + NON_ASCII)
def test_rfc3339_boundaries_and_non_ascii_digits_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"out of range|not an RFC 3339"):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59Z"),
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"),
    ],
)
def test_the_edges_of_the_range_still_parse_and_round_trip(text: str, expected: str) -> None:
    moment = parse_rfc3339(text)
    assert format_rfc3339(moment) == expected
    assert parse_rfc3339(format_rfc3339(moment)) == moment  # years < 1000 keep four digits


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_durations_are_ascii_and_bounded(text: str) -> None:
    with pytest.raises(ValueError, match=r"ASCII|longer than the limit"):
        parse_duration(text)


def test_the_longest_duration_is_accepted() -> None:
    assert parse_duration("36525d") == MAX_DURATION == parse_duration("876600h")


@pytest.mark.parametrize("text", BAD_NOW + OUT_OF_RANGE + NON_ASCII)
def test_now_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"^now: ") as caught:
        parse_instant(text)
    assert caught.value.option == "now"  # the CLI names it --now


def test_now_unix_seconds_are_exact() -> None:
    assert format_rfc3339(parse_instant("253402300799.999999")) == "9999-12-31T23:59:59.999999Z"
    assert format_rfc3339(parse_instant("1795176000.25")) == "2026-11-20T12:00:00.25Z"


@pytest.mark.parametrize(
    "name", ["max-age-999999999999d", "max-age-36526d", "max-age-\uff12\uff14h", "max-age-9999999999999s"]
)
def test_max_age_names_out_of_range_are_policy_errors(name: str) -> None:
    with pytest.raises(PolicyError):
        builtin_policy(name)


def test_rule_file_durations_are_bounded() -> None:
    for value in ["999999999999d", "\uff12\uff14h"]:
        text = f"verification:\n  rules:\n    - {{name: a, type: max-age, max_age: '{value}'}}\n"
        with pytest.raises(PolicyError, match="field 'max_age'"):
            load_policy_text("r.yaml", text.encode())


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("timestamp: 2026-11-20T10:00:00Z\nbig: " + "9" * 5000 + "\n", "yaml"),
        ("timestamp: 2026-11-20T10:00:00Z\nbig: -" + "9" * 4301 + "\n", "yaml"),
        ("timestamp: 2026-11-20T10:00:00Z\nbig: 0x" + "f" * 5000 + "\n", "yaml"),
        ('{"timestamp": "2026-11-20T10:00:00Z", "big": ' + "9" * 5000 + "}", "json"),
    ],
)
def test_huge_integers_are_malformed_with_an_integer_range_code(text: str, fmt: str) -> None:
    with pytest.raises(MalformedReceiptError) as info:
        parse_receipt(text.encode(), source="big", fmt=fmt)
    assert info.value.code == "integer-range" and "2^53" in str(info.value)


# ---- the user's paths: verify, bulk verify, the library ----------------------------------


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE + NON_ASCII)
def test_library_verify_reports_a_malformed_timestamp(timestamp: str, key: PrivateKey) -> None:
    receipt = _signed(make_receipt(timestamp=timestamp), key)
    result = verify_receipt(receipt, trusted_keys=[key.public_key], now=parse_rfc3339(NOW))
    assert not result.valid
    check = result.checks[0]  # then the policies, not evaluated (issue 24.4)
    assert (check.name, check.code) == ("format", "timestamp-format") and "/timestamp" in check.message


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE[::2] + NON_ASCII[:1])
def test_one_bad_timestamp_does_not_abort_a_bulk_run(
    timestamp: str, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    good = write_json(tmp_path / "good.json", _signed(make_receipt(), key))
    bad = write_json(tmp_path / "bad.json", _signed(make_receipt(timestamp=timestamp), key))
    result = cli("verify", str(good), str(bad), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err and "OverflowError" not in result.out + result.err
    verdicts = {line["source"] if "source" in line else i: line for i, line in enumerate(result.json_lines())}
    assert len(verdicts) == 2
    assert [line["valid"] for line in result.json_lines()] == [True, False]
    single = cli("verify", str(bad), "--public-key", key.public_key.text, "--now", NOW)
    assert single.code == 1 and "timestamp" in single.out + single.err


def test_a_huge_integer_in_a_yaml_receipt_is_invalid_not_a_crash(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("timestamp: 2026-11-20T10:00:00Z\ncount: " + "7" * 5000 + "\n")
    result = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert result.code == 1 and "Traceback" not in result.err
    (line,) = result.json_lines()
    assert line["valid"] is False


@pytest.mark.parametrize(
    "args",
    [
        *(["--now", value] for value in BAD_NOW + OUT_OF_RANGE[:1] + NON_ASCII[:1]),
        *(["--tolerance", value] for value in BAD_DURATIONS),
        *(["--policy", f"max-age-{value}"] for value in BAD_DURATIONS),
    ],
)
def test_out_of_range_options_are_usage_errors(
    args: list[str], cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    receipt = write_json(tmp_path / "r.json", _signed(make_receipt(), key))
    result = cli("verify", str(receipt), "--public-key", key.public_key.text, *args)
    assert result.code == 2 and result.out == "", result.err
    assert "Traceback" not in result.err and args[0].lstrip("-") in result.err.replace("max-age", "policy")


@pytest.mark.parametrize("value", BAD_NOW[:2])
def test_webhook_now_out_of_range_is_a_usage_error(value: str, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    result = cli("webhook", "verify", str(body), "--secret-env", "S", "--header", "X-Hub-Signature-256: sha256=00",
                 "--now", value, env={"S": "s3cret"})  # fmt: skip
    assert result.code == 2 and "Traceback" not in result.err
    assert_one_line_error(result)


# ---- delegations and keyrings ------------------------------------------------------------


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:60Z", "0001-01-01T00:00:00+00:01", "\u0662\u0660\u0662\u0667-01-01T00:00:00Z"]
)
def test_a_receipt_carrying_a_delegation_with_a_boundary_date_is_untrusted(
    moment: str, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    statement = create_delegation(key, other_key.public_key)
    statement.pop("signature")
    statement["not_after"] = moment
    statement["signature"] = "ed25519:" + key.sign(canonicalize(statement)).hex()
    receipt = _signed(make_receipt(delegations=[statement]), other_key)
    result = verify_receipt(receipt, trusted_keys=[key.public_key], now=parse_rfc3339(NOW))
    assert not result.valid and result.chain_of_trust == "untrusted"
    path = write_json(tmp_path / "r.json", receipt)
    verdict = cli("verify", str(path), "--public-key", key.public_key.text, "--now", NOW, "--json")
    assert verdict.code == 1 and "Traceback" not in verdict.err
    assert verdict.json_lines()[0]["chain_of_trust"] == "untrusted"


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:60Z", "0001-01-01T00:00:00+01:00", "\uff12026-01-01T00:00:00Z"])
def test_a_keyring_with_a_boundary_date_is_a_trust_store_error(
    moment: str, cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    text = f"keys:\n  - public_key: {key.public_key.text}\n    not_after: '{moment}'\n"
    with pytest.raises(TrustStoreError, match="not_after"):
        parse_keyring(text, "ring.yaml")
    ring = tmp_path / "ring.yaml"
    ring.write_text(text)
    receipt = write_json(tmp_path / "r.json", _signed(make_receipt(), key))
    result = cli("verify", str(receipt), "--trusted-keys-file", str(ring), "--now", NOW)
    assert result.code == 2 and "not_after" in result.err
    assert_one_line_error(result)


# ---- producing ---------------------------------------------------------------------------


@pytest.mark.parametrize("moment", OUT_OF_RANGE[:1] + NON_ASCII[:1] + ["yesterday"])
def test_finalize_refuses_a_draft_step_time_it_cannot_read(
    moment: str, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    draft = make_receipt()
    draft["steps"][0]["start_time"] = moment
    with pytest.raises(UsageError, match="start_time"):
        finalize_receipt(draft, now=parse_rfc3339(NOW), host={})
    (tmp_path / "draft.json").write_text(json.dumps({"steps": draft["steps"]}))
    assert cli("keys", "generate", "--out-dir", str(tmp_path / "k")).code == 0
    result = cli("receipt", "finalize", "--receipt", "draft.json", "--key", "k/attestkit.key", "-o", "out.json")
    assert result.code == 2 and "start_time" in result.err and not (tmp_path / "out.json").exists()
    assert_one_line_error(result)
