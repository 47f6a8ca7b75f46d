"""Validity windows are compared at full precision: a receipt 1 ns past a window's end is outside it.

A ``datetime`` keeps microseconds; a receipt stamped up to 999 ns after a keyring entry's or a
delegation's ``not_after`` (or before a ``not_before`` with sub-microsecond digits) used to be
judged inside the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339, rfc3339_unix_ns_span, to_unix_ns
from attestkit.core.trust.chain import receipt_span
from attestkit.core.trust.delegation import create_delegation
from attestkit.core.trust.keyring import parse_keyring
from attestkit.core.trust.store import TrustedKey, TrustStore
from tests.conftest import NOW, CliResult, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)
EDGE = "2026-11-20T10:00:00"


def _keys(n: int) -> list[PrivateKey]:
    return [PrivateKey.from_seed(bytes([i + 140]) * 32) for i in range(n)]


def _ring(key: PrivateKey, **window: str) -> TrustStore:
    fields = "".join(f"    {name}: '{value}'\n" for name, value in window.items())
    return parse_keyring(f"version: 1\nkeys:\n  - public_key: {key.public_key.text}\n{fields}")


def _codes(receipt: dict[str, Any], store: TrustStore) -> set[str]:
    result = verify_receipt(receipt, trusted_keys=store, now=NOW_DT)
    return set() if result.valid else {c.code for c in result.failed_checks}


@pytest.mark.parametrize(
    ("stamp", "window", "expected"),
    [
        (EDGE + ".000000999Z", {"not_after": EDGE + "Z"}, {"expired"}),
        (EDGE + ".000000001Z", {"not_after": EDGE + "Z"}, {"expired"}),
        (EDGE + ".0000000001Z", {"not_after": EDGE + "Z"}, {"expired"}),  # below a nanosecond, still after
        (EDGE + ".000000000Z", {"not_after": EDGE + "Z"}, set()),  # at the end: inside
        (EDGE + ".000000999Z", {"not_after": EDGE + ".000001Z"}, set()),
        (EDGE + ".0000001Z", {"not_before": EDGE + ".0000005Z"}, {"not-yet-valid"}),
        (EDGE + ".000000999Z", {"not_before": EDGE + ".0000005Z"}, {"not-yet-valid"}),  # in doubt: refused
        (EDGE + ".000001Z", {"not_before": EDGE + ".0000005Z"}, set()),
        (EDGE + "Z", {"not_before": EDGE + "Z"}, set()),
    ],
)
def test_keyring_window_edges(stamp: str, window: dict[str, str], expected: set[str]) -> None:
    (key,) = _keys(1)
    receipt = sign_receipt(make_receipt(timestamp=stamp), key)
    assert _codes(receipt, _ring(key, **window)) == expected


def _statement(root: PrivateKey, ci: PrivateKey, **window: str) -> dict[str, Any]:
    statement = create_delegation(root, ci.public_key, identity="ci@company.com", scopes=["project:myapp"])
    statement.pop("signature")
    statement.update(window)
    statement["signature"] = "ed25519:" + root.sign(canonicalize(statement)).hex()
    return statement


@pytest.mark.parametrize(
    ("stamp", "window", "expected"),
    [
        (EDGE + ".000000999Z", {"not_after": EDGE + "Z"}, {"delegation-expired"}),
        (EDGE + "Z", {"not_after": EDGE + "Z"}, set()),
        (EDGE + ".0000001Z", {"not_before": EDGE + ".0000005Z"}, {"delegation-not-yet-valid"}),
        (EDGE + ".000001Z", {"not_before": EDGE + ".0000005Z"}, set()),
    ],
)
def test_delegation_window_edges(stamp: str, window: dict[str, str], expected: set[str]) -> None:
    root, ci = _keys(2)
    store = TrustStore((TrustedKey(root.public_key, roles=("root",), scopes=("project:myapp",)),))
    receipt = sign_receipt(make_receipt(timestamp=stamp, delegations=[_statement(root, ci, **window)]), ci)
    assert _codes(receipt, store) == expected


def test_span_of_long_fractions() -> None:
    from attestkit.core.timeutil import rfc3339_unix_ns_span

    assert rfc3339_unix_ns_span("1970-01-01T00:00:01.000000999Z") == (1_000_000_999, 1_000_000_999)
    assert rfc3339_unix_ns_span("1970-01-01T00:00:01.0000009990Z") == (1_000_000_999, 1_000_000_999)
    assert rfc3339_unix_ns_span("1970-01-01T00:00:01.00000099901Z") == (1_000_000_999, 1_000_001_000)


def test_cli_receipt_999ns_after_not_after_is_expired(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    public = (tmp_path / "a.pub").read_text().strip()
    unsigned = write_json(tmp_path / "late.u.json", make_receipt(timestamp="2026-06-01T00:00:00.000000999Z"))
    signed = tmp_path / "late.json"
    assert cli("sign", str(unsigned), "--key", str(tmp_path / "a.key"), "-o", str(signed)).code == 0
    ring = tmp_path / "ring.yaml"
    ring.write_text(f"version: 1\nkeys:\n  - public_key: {public}\n    not_after: '2026-06-01T00:00:00Z'\n")
    result = cli("verify", str(signed), "--keyring", str(ring), "--now", "2026-12-01T00:00:00Z", "--json")
    assert result.code == 1, result.out + result.err
    (line,) = result.json_lines()
    assert line["chain_of_trust"] == "expired"


@given(
    digits=st.text("0123456789", max_size=14),
    offset=st.sampled_from(["Z", "z", "+05:30", "-00:00"]),
    dot=st.booleans(),
    tail=st.sampled_from(["", "x", ".5"]),
)
def test_receipt_span_quick_path_equals_the_full_reading(digits: str, offset: str, dot: bool, tail: str) -> None:
    """``receipt_span`` answers at once for at most 6 fraction digits (or none); it must give what
    reading the text at full precision gives, for any text, valid or not."""
    text = EDGE + ("." + digits if dot else "") + offset + tail
    try:
        moment = parse_rfc3339(text)
    except ValueError:
        moment = NOW_DT
    exact = to_unix_ns(moment)
    try:
        earliest, latest = rfc3339_unix_ns_span(text)
        full = (earliest, latest) if earliest // 1000 == exact // 1000 else (exact, exact)
    except ValueError:
        full = (exact, exact)
    assert receipt_span(moment, text) == full
