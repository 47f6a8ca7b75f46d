"""Differential test: generated policies and inputs, attestkit's embedded engine against real OPA.

For every generated case attestkit must agree with OPA 1.20.2 (the oracle from
../shared/tools/opa-oracle) on the violations, or refuse (exit 2). Every case OPA cannot compile
or evaluate must be refused. Sockets are disabled in the process while it runs. Several thousand
cases under the CI profile (CI=true); fewer locally.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.policy.base import PolicyContext
from attestkit.core.policy.rego import RegoPolicy, input_document
from attestkit.errors import PolicyError
from tests.rego_oracle import no_network, oracle_decision

__all__ = ["no_network"]  # the fixture, used by name below

CI = os.environ.get("CI", "").lower() in ("true", "1")
EXAMPLES = int(os.environ.get("ATTESTKIT_REGO_DIFF_EXAMPLES", 4000 if CI else 300))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
STATS: Counter[str] = Counter()

# ---- inputs ---------------------------------------------------------------------------

_CHARS = st.sampled_from([*"abcXYZ019 -_./:%@", '"', "\\", "\n", "\t", "é", "ß", "İ", "ǅ", "€", "😀", "{", "}"])
text = st.text(_CHARS, max_size=12)
numbers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.sampled_from([0.5, 1.25, 12.5, 45.2, 0.1, 0.2, 3.75, -2.5, 1e-7, 7200.0, 99.99]),
)
scalars = st.one_of(text, numbers, st.booleans(), st.none())
versions = st.one_of(
    st.sampled_from(["0.1.0", "0.9.0", "0.10.0", "1.0.0-rc.1", "1.0.0", "2.0.0+build", "v1.0.0", "1.0", "01.2.3"]),
    text,
)
timestamps = st.one_of(
    st.sampled_from(
        [
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.5Z",
            "2026-11-20T10:00:00+02:00",
            "2026-11-20t10:00:00z",
            "2026-11-20 10:00:00Z",
            "2026-11-20T10:00:00.123456789Z",
            "2026-02-30T10:00:00Z",
            "1h30m",
            "90s",
            "1.5h",
        ]
    ),
    text,
)


@st.composite
def receipts(draw: st.DrawFn) -> dict[str, Any]:
    steps = [
        {
            "name": draw(text),
            "command": draw(text),
            "exit_code": draw(st.integers(-1, 3)),
            "duration_secs": draw(numbers),
            "start_time": draw(timestamps),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    return {
        "timestamp": "2026-11-20T10:00:00Z",
        "attest_version": draw(versions),
        "signer": draw(st.one_of(text, st.none())),
        "environment": {
            "a": draw(text),
            "b": draw(text),
            "n": draw(numbers),
            "v": draw(scalars),
            "t": draw(timestamps),
        },
        "steps": steps,
        "list": draw(st.lists(numbers, max_size=4)),
        "names": draw(st.lists(text, max_size=4)),
    }


# ---- policies -------------------------------------------------------------------------

S = st.sampled_from(
    [
        "input.receipt.environment.a",
        "input.receipt.environment.b",
        "input.receipt.environment.t",
        "input.receipt.signer",
        "input.receipt.environment.gone",  # undefined: `not` over it must be OPA's answer (stop 34)
    ]
)
N = st.sampled_from(
    ["input.receipt.environment.n", "input.now_ns", "input.timestamp_ns", "input.age_seconds", "input.receipt.gone"]
)
V = st.sampled_from(
    ["input.receipt.environment.v", "input.receipt.list", "input.receipt.names", "input.receipt.environment"]
)


def lit(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


str_lit = text.map(lit)
num_lit = numbers.map(lit)
str_arg = st.one_of(S, str_lit)
num_arg = st.one_of(N, num_lit)
any_arg = st.one_of(S, N, V, str_lit, num_lit)


def call(name: str, *args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*args).map(lambda parts: f"{name}({', '.join(parts)})")


def infix(op: str, a: st.SearchStrategy[str], b: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(a, b).map(lambda parts: f"({parts[0]} {op} {parts[1]})")


regex_lit = st.sampled_from(
    ["`^[a-z]+$`", "`\\s+`", "`[0-9]+`", "`(a|b)`", "`.`", "`é`", "`\\\\`", '"\\\\d"', "`(`", "`\\<`", "`a\\>`"]
).map(str)
sprintf_format = st.sampled_from(["%s", "%d", "%v", "%q", "%x", "%.2f", "%s-%v", "%5s", "%%", "%t"]).map(lit)
layouts = st.sampled_from(['"2006-01-02"', '"2006-01-02T15:04:05Z07:00"', '"15:04"']).map(str)
cidr = st.sampled_from(['"10.0.0.0/8"', '"192.168.0.0/16"', '"::1/128"', '"bad"', '"10.0.0.1"']).map(str)
ip_text = st.sampled_from(['"10.1.2.3"', '"192.168.1.10"', '"::1"', '"300.1.1.1"', '"10.0.0.0/24"']).map(str)

EXPRESSIONS = [
    call("count", str_arg),
    call("upper", str_arg),
    call("lower", str_arg),
    call("concat", str_lit, st.tuples(str_arg, str_arg).map(lambda p: f"[{p[0]}, {p[1]}]")),
    call("split", str_arg, str_lit),
    call("contains", str_arg, str_lit),
    call("startswith", str_arg, str_lit),
    call("endswith", str_arg, str_lit),
    call("indexof", str_arg, str_lit),
    call("indexof_n", str_arg, str_lit),
    call("substring", str_arg, st.integers(-1, 5).map(str), st.integers(-1, 8).map(str)),
    call("replace", str_arg, str_lit, str_lit),
    call("trim", str_arg, str_lit),
    call("trim_left", str_arg, str_lit),
    call("trim_right", str_arg, str_lit),
    call("trim_prefix", str_arg, str_lit),
    call("trim_suffix", str_arg, str_lit),
    call("trim_space", str_arg),
    call("strings.reverse", str_arg),
    call("strings.count", str_arg, str_lit),
    call("strings.replace_n", st.tuples(str_lit, str_lit).map(lambda p: f"{{{p[0]}: {p[1]}}}"), str_arg),
    call("strings.any_prefix_match", str_arg, str_lit),
    call("strings.any_suffix_match", str_arg, str_lit),
    call("sprintf", sprintf_format, st.lists(any_arg, min_size=1, max_size=2).map(lambda p: f"[{', '.join(p)}]")),
    call("format_int", num_arg, st.sampled_from(["2", "8", "10", "16"])),
    call("to_number", st.one_of(str_arg, num_arg)),
    call("json.marshal", any_arg),
    call("json.unmarshal", str_arg),
    call("json.is_valid", str_arg),
    call("base64.encode", str_arg),
    call("base64.decode", str_arg),
    call("base64.is_valid", str_arg),
    call("base64url.encode", str_arg),
    call("base64url.encode_no_pad", str_arg),
    call("base64url.decode", str_arg),
    call("hex.encode", str_arg),
    call("hex.decode", str_arg),
    call("urlquery.encode", str_arg),
    call("crypto.sha256", str_arg),
    call("crypto.md5", str_arg),
    call("crypto.sha1", str_arg),
    call("regex.match", regex_lit, str_arg),
    call("regex.is_valid", st.one_of(regex_lit, str_arg)),
    call("regex.replace", str_arg, regex_lit, str_lit),
    call("regex.split", regex_lit, str_arg),
    call("regex.find_n", regex_lit, str_arg, st.sampled_from(["-1", "0", "1", "2"])),
    call(
        "glob.match", st.sampled_from(['"a*"', '"*.bin"', '"dist/**"', '"[a-c]?"', '"{a,b}*"']), st.just("[]"), str_arg
    ),
    call("semver.compare", versions.map(lit), versions.map(lit)),
    call("semver.is_valid", st.one_of(versions.map(lit), str_arg)),
    call("time.parse_rfc3339_ns", st.one_of(timestamps.map(lit), S)),
    call("time.parse_duration_ns", st.one_of(timestamps.map(lit), S)),
    call("time.parse_ns", layouts, st.sampled_from(['"2026-11-20"', '"2026-11-20T10:00:00Z"', '"10:30"', '"x"'])),
    call("time.format", N),
    call("time.date", N),
    call("time.clock", N),
    call("time.weekday", N),
    call("time.add_date", N, st.integers(-2, 2).map(str), st.integers(-13, 13).map(str), st.integers(-40, 40).map(str)),
    call("units.parse", st.sampled_from(['"1k"', '"1Ki"', '"1.5M"', '"10"', '"1e3"', '"x"', '"1KB"', '"-2m"'])),
    call("units.parse_bytes", st.sampled_from(['"1KiB"', '"1kb"', '"1.5MB"', '"10"', '"x"', '"1 KB"'])),
    call("numbers.range", st.integers(-3, 3).map(str), st.integers(-3, 3).map(str)),
    call("net.cidr_contains", cidr, st.one_of(ip_text, S)),
    call("sum", st.just("input.receipt.list")),
    call("product", st.just("input.receipt.list")),
    call("max", st.sampled_from(["input.receipt.list", "input.receipt.names"])),
    call("min", st.sampled_from(["input.receipt.list", "input.receipt.names"])),
    call("sort", st.sampled_from(["input.receipt.list", "input.receipt.names"])),
    call("round", num_arg),
    call("ceil", num_arg),
    call("floor", num_arg),
    call("abs", num_arg),
    call("type_name", any_arg),
    call("is_string", any_arg),
    call("is_number", any_arg),
    call("object.get", st.just("input.receipt.environment"), str_lit, any_arg),
    call("object.keys", st.just("input.receipt.environment")),
    call("object.remove", st.just("input.receipt.environment"), st.just('["a", "n"]')),
    call("array.concat", st.just("input.receipt.list"), st.just("input.receipt.names")),
    call("array.slice", st.just("input.receipt.names"), st.integers(-1, 3).map(str), st.integers(0, 5).map(str)),
    call("array.reverse", st.just("input.receipt.list")),
    call("array.flatten", st.just("[input.receipt.list, input.receipt.names, [input.receipt.environment.v]]")),
    call("object.union_n", st.just('[input.receipt.environment, {"a": 1, "z": [2]}]')),
    call("crypto.hmac.sha256", str_arg, str_lit),
    st.just("union({{x | some x in input.receipt.list}, {y | some y in input.receipt.names}})"),
    infix("+", num_arg, num_arg),
    infix("-", num_arg, num_arg),
    infix("*", num_arg, num_arg),
    infix("/", num_arg, num_arg),
    infix("%", num_arg, num_arg),
    infix("<", any_arg, any_arg),
    infix("==", any_arg, any_arg),
    infix(">=", num_arg, num_arg),
    st.just("[s.name | some s in input.receipt.steps]"),
    st.just("{s.exit_code | some s in input.receipt.steps}"),
    st.just('count([x | some x in input.receipt.names; startswith(x, "a")])'),
]
expression = st.one_of(*EXPRESSIONS)


@st.composite
def policies(draw: st.DrawFn) -> str:
    rules = ["package attest.verification", ""]
    for index in range(draw(st.integers(1, 3))):
        shape = draw(st.integers(0, 7))
        expr = draw(expression)
        if shape == 0:
            rules.append(f'deny contains {{"r": {index}, "v": v}} if {{\n\tv := {expr}\n}}')
        elif shape == 1:
            rules.append(f'deny contains "rule {index}" if {{\n\t{expr}\n}}')
        elif shape == 2:
            rules.append(f'deny contains "not {index}" if {{\n\tnot {expr}\n}}')
        elif shape == 3:
            rules.append(f"default allow := false\n\nallow if {{\n\tv := {expr}\n\tv == {draw(any_arg)}\n}}")
        elif shape == 4:
            rules.append(
                f'deny contains msg if {{\n\tsome s in input.receipt.steps\n\ts.exit_code != 0\n\tmsg := sprintf("%s: %v", [s.name, {expr}])\n}}'
            )
        elif shape == 5:
            rules.append(f'h{index} := {expr}\n\ndeny contains sprintf("%v", [h{index}]) if true')
        elif shape == 6:
            rules.append(f'f{index}(x) := {expr} if x\n\ndeny contains {{"f": f{index}(true)}} if true')
        else:
            rules.append(
                f'level{index} := "a" if {{\n\t{expr}\n}} else := "b"\n\ndeny[level{index}] := {index} if true'
            )
        rules.append("")
    return "\n".join(rules)


_oracle = oracle_decision


def _ours(text: str, context: PolicyContext) -> tuple[str, Any, RegoPolicy | None]:
    try:
        policy = RegoPolicy("p.rego", text)
    except PolicyError as exc:
        return "refused", str(exc), None
    try:
        return "ok", sorted(v.message for v in policy.evaluate(context)), policy
    except PolicyError as exc:
        return "refused", str(exc), policy


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=policies(), receipt=receipts(), verified=st.booleans())
def test_embedded_engine_agrees_with_opa_or_refuses(
    no_network: None, text: str, receipt: dict[str, Any], verified: bool
) -> None:
    context = PolicyContext(
        receipt=receipt,
        signature_verified=verified,
        signer=receipt.get("signer"),
        public_key="ed25519:" + "ab" * 32,
        now=NOW,
        timestamp=datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc),
        trusted_identity=None,
    )
    ours, detail, policy = _ours(text, context)
    has_allow = policy.has_allow if policy is not None else "allow" in text
    theirs, expected = _oracle(text, input_document(context), has_allow)
    STATS[f"{ours}/{theirs}"] += 1
    # Agree or refuse (issue 16): every case OPA cannot compile or evaluate is refused, and every
    # case attestkit decides has exactly OPA's violations (no fail-open, no false reject).
    if theirs == "error":
        assert ours == "refused", f"OPA failed ({expected}) but attestkit decided {detail}\n{text}\n{receipt}"
    elif ours == "ok":
        assert detail == expected, f"attestkit {detail} != OPA {expected}\n{text}\n{receipt}"


def test_differential_summary() -> None:
    """Print how often the embedded engine refused a case OPA decided (run after the test above)."""
    if not STATS:
        pytest.skip("differential test did not run")
    decided = sum(v for k, v in STATS.items() if k.endswith("/ok"))
    refused = STATS["refused/ok"]
    print(f"\nRego differential: {dict(STATS)}; refused {refused} of {decided} OPA-decided cases")
