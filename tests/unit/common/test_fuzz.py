"""Malformed input never crashes: every parser of untrusted input raises only attestkit errors."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, parse_private_key, parse_public_key
from attestkit.core.policy.builtin import builtin_policy
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.produce.pipeline import parse_pipeline
from attestkit.core.receipt.reader import parse_receipt
from attestkit.core.timeutil import format_rfc3339, parse_duration, parse_instant, parse_rfc3339
from attestkit.core.trust.delegation import parse_delegation
from attestkit.core.trust.keyring import parse_keyring, parse_trusted_keys
from attestkit.core.verify.verifier import verify_receipt
from attestkit.core.webhooks import verify_webhook
from attestkit.errors import AttestkitError
from tests.conftest import make_receipt

yaml_like = st.one_of(
    st.text(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=15,
    ).map(lambda v: json.dumps({"keys": v, "verification": {"rules": v}, "version": "0.1", "steps": v})),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(yaml_like)
def test_keyring_and_trusted_keys(text: str) -> None:
    for parse in (parse_keyring, parse_trusted_keys):
        try:
            parse(text, "fuzz")
        except AttestkitError:
            pass


@FAST
@given(yaml_like)
def test_pipeline_and_rule_files(text: str) -> None:
    for parse in (
        lambda t: parse_pipeline(t.encode("utf-8", "surrogatepass"), "p.yaml"),
        lambda t: load_policy_text("r.yaml", t.encode("utf-8", "surrogatepass")),
    ):
        try:
            parse(text)
        except AttestkitError:
            pass


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_rego_files(text: str) -> None:
    try:
        load_policy_text("p.rego", ("package attest.verification\n" + text).encode("utf-8", "surrogatepass"))
    except AttestkitError:
        pass


@FAST
@given(st.binary(max_size=200), st.text(max_size=120))
def test_keys(data: bytes, text: str) -> None:
    for attempt in (
        lambda: parse_private_key(data),
        lambda: parse_private_key(b"-----BEGIN PRIVATE KEY-----\n" + data),
        lambda: parse_public_key(text),
    ):
        try:
            attempt()
        except AttestkitError:
            pass


headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Attest-Signature",
            "X-Hub-Signature-256",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "Stripe-Signature",
            "Other",
        ]
    ),
    st.text(max_size=80),
    max_size=5,
)


@FAST
@given(
    st.binary(max_size=200),
    headers,
    st.sampled_from(
        ["s3cret", "whsec_" + base64.b64encode(b"k" * 24).decode(), "whpk_" + base64.b64encode(b"\x01" * 32).decode()]
    ),
)
def test_webhooks(body: bytes, header_values: dict[str, str], secret: str) -> None:
    try:
        verify_webhook(body, header_values, [secret], now=1_795_176_000)
    except AttestkitError:
        pass


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["payloadType", "payload", "signatures", "type", "delegator", "delegate", "signature"]),
        st.text(max_size=60)
        | st.lists(st.dictionaries(st.sampled_from(["keyid", "sig"]), st.text(max_size=40)), max_size=2),
        max_size=7,
    )
)
def test_envelopes_and_delegations(document: dict[str, object]) -> None:
    try:
        parse_delegation(document)
    except AttestkitError:
        pass
    result = verify_receipt(document, integrity_only=True)
    assert not result.valid


# ---- boundary values (issue 14.10): times, durations, instants, huge integers -------------

_DIGIT_FORMS = [
    "0123456789",
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
    "".join(chr(0xFF10 + i) for i in range(10)),
]


def _digits(value: int, width: int, form: str) -> str:
    return "".join(form[int(c)] for c in str(value).zfill(width))


@st.composite
def boundary_timestamps(draw: st.DrawFn) -> str:
    """RFC 3339-shaped strings clustered at year 1 and 9999, with offsets, leap seconds and odd digits."""
    form = draw(st.sampled_from(_DIGIT_FORMS[:1] * 4 + _DIGIT_FORMS[1:]))
    year = draw(st.sampled_from([0, 1, 2, 1969, 1970, 2026, 9998, 9999]) | st.integers(0, 9999))
    month = draw(st.sampled_from([1, 12]) | st.integers(0, 13))
    day = draw(st.sampled_from([1, 31]) | st.integers(0, 32))
    hour, minute = (
        draw(st.sampled_from([0, 23]) | st.integers(0, 24)),
        draw(st.sampled_from([0, 59]) | st.integers(0, 60)),
    )
    second = draw(st.sampled_from([0, 59, 60]) | st.integers(0, 61))
    fraction = draw(st.sampled_from(["", ".5", ".999999", ".9999999999"]))
    offset = draw(
        st.sampled_from(["Z", "z", "+00:00", "-00:00", "+00:01", "-00:01", "+23:59", "-23:59", "+24:00", "\uff3a"])
    )
    date = "-".join([_digits(year, 4, form), _digits(month, 2, form), _digits(day, 2, form)])
    time = ":".join([_digits(hour, 2, form), _digits(minute, 2, form), _digits(second, 2, form)])
    return f"{date}T{time}{fraction}{offset}"


@st.composite
def boundary_durations(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(_DIGIT_FORMS[:1] * 3 + _DIGIT_FORMS[1:]))
    number = draw(st.sampled_from([0, 1, 36525, 36526, 876600, 999999999, 999999999999]) | st.integers(0, 10**13))
    return _digits(number, 1, form) + draw(st.sampled_from(["s", "m", "h", "d", "\uff48", "w", ""]))


_AGE_POLICY = load_policy_text(
    "a.rego", b'package attest.verification\ndeny contains "old" if { input.age_seconds > 86400 }\n'
)


@FAST
@given(boundary_timestamps())
def test_boundary_timestamps_only_raise_attestkit_errors(timestamp: str) -> None:
    try:
        moment = parse_rfc3339(timestamp)
    except ValueError:
        moment = None
    else:
        assert timestamp.isascii() and parse_rfc3339(format_rfc3339(moment)) == moment
    try:
        parse_instant(timestamp)
    except AttestkitError:
        pass
    key = PrivateKey.from_seed(bytes(32))
    body = dict(make_receipt(timestamp=timestamp), signer_public_key=key.public_key.text, signature_algorithm="ed25519")
    signed = dict(body, signature="ed25519:" + key.sign(canonicalize(body)).hex())
    result = verify_receipt(
        signed, trusted_keys=[key.public_key], policies=[_AGE_POLICY, builtin_policy("max-age-24h")]
    )
    if moment is None:
        assert not result.valid and result.checks[0].code == "timestamp-format"
    else:
        assert result.signature_valid
    for field in ("not_before", "not_after"):
        try:
            parse_keyring(f"keys:\n  - public_key: {key.public_key.text}\n    {field}: '{timestamp}'\n", "fuzz")
        except AttestkitError:
            pass
        try:
            parse_delegation(
                {
                    "type": "attestkit/delegation/v1",
                    "delegator": key.public_key.text,
                    "delegate": key.public_key.text,
                    "scopes": [],
                    field: timestamp,
                    "signature": "ed25519:" + "00" * 64,
                }
            )
        except AttestkitError:
            pass


@FAST
@given(boundary_durations())
def test_boundary_durations_only_raise_attestkit_errors(text: str) -> None:
    try:
        parse_duration(text)
    except ValueError:
        pass
    for attempt in (
        lambda: builtin_policy("max-age-" + text),
        lambda: load_policy_text(
            "r.yaml", f"verification:\n  rules:\n    - {{name: a, type: max-age, max_age: '{text}'}}\n".encode()
        ),
        lambda: parse_instant(text.rstrip("smhdw\uff48")),
    ):
        try:
            attempt()
        except AttestkitError:
            pass


@FAST
@given(st.integers(4000, 6000), st.sampled_from(["", "-", "0x", "0o"]), st.sampled_from(["json", "yaml"]))
def test_huge_integers_only_raise_attestkit_errors(digits: int, prefix: str, fmt: str) -> None:
    if fmt == "json" and prefix not in ("", "-"):
        prefix = ""
    number = prefix + ("7" * digits)
    text = (
        f'{{"timestamp": "2026-11-20T10:00:00Z", "n": {number}}}'
        if fmt == "json"
        else f"timestamp: 2026-11-20T10:00:00Z\nn: {number}\n"
    )
    for attempt in (
        lambda: parse_receipt(text.encode(), fmt=fmt),
        lambda: parse_keyring(f"keys: []\nn: {number}\n", "fuzz"),
        lambda: load_policy_text(
            "r.yaml",
            f"verification:\n  rules:\n    - {{name: a, type: max-vulnerabilities, critical: {number}}}\n".encode(),
        ),
    ):
        try:
            attempt()
        except AttestkitError:
            pass


# ---- test and scanner reports (issue 14.8) --------------------------------------------------

_xml_piece = st.sampled_from(
    [
        "<testsuites>",
        "</testsuites>",
        "<testsuite>",
        "</testsuite>",
        '<testsuite tests="2" failures="1">',
        '<testsuite errors="-1">',
        '<testsuite tests="inf">',
        "<testcase/>",
        "<testcase>",
        "</testcase>",
        "<failure/>",
        "<error/>",
        "<skipped/>",
        "<![CDATA[<!DOCTYPE x>]]>",
        "<!DOCTYPE x>",
        '<!ENTITY a "b">',
        "&a;",
        "&amp;",
        "x",
    ]
)
_json_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["CRITICAL", "HIGH", "low", "2.1.0", "error", "9.8", ""])
)
_report_like = st.recursive(
    _json_scalar,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Results",
                    "Vulnerabilities",
                    "Severity",
                    "ClusterName",
                    "Resources",
                    "Findings",
                    "Error",
                    "SchemaVersion",
                    "ArtifactName",
                    "runs",
                    "version",
                    "tool",
                    "driver",
                    "name",
                    "results",
                    "rules",
                    "ruleIndex",
                    "ruleId",
                    "level",
                    "kind",
                    "properties",
                    "tags",
                    "security-severity",
                    "Status",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@FAST
@given(st.lists(_xml_piece, max_size=12), st.sampled_from(["utf-8", "utf-16", "utf-16-be"]))
def test_junit_reports_only_raise_attestkit_errors(pieces: list[str], encoding: str) -> None:
    from attestkit.core.produce.producer import summarize_junit

    try:
        results = summarize_junit("".join(pieces).encode(encoding), "junit.xml")["predicate"]["test_results"]
    except AttestkitError:
        return
    assert all(type(v) is int and v >= 0 for v in results.values())
    assert results["total"] == results["passed"] + results["failed"] + results["skipped"]


@FAST
@given(_report_like)
def test_security_reports_only_raise_attestkit_errors(report: object) -> None:
    from attestkit.core.produce.producer import summarize_security

    try:
        results = summarize_security(json.dumps(report).encode(), "scan.json")["predicate"]["results"]
    except AttestkitError:
        return
    assert isinstance(report, dict) and report  # never a bare {} or a non-object
    assert all(type(n) is int and n >= 0 for counts in results.values() for n in counts.values())
