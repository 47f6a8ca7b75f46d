"""Library errors are also the stdlib errors a Python caller expects (issue 17, item 4).

A :class:`UsageError` (a wrong value) is a ``ValueError``; an :class:`ArgumentTypeError` (a wrong
type) a ``TypeError`` too. And whatever junk a caller passes to the public API, only attestkit
errors come out: never an ``AttributeError`` from deep inside, never a read of a file descriptor.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attestkit
from attestkit import errors
from attestkit.errors import ArgumentTypeError, AttestkitError, UsageError
from tests.conftest import make_receipt

KEY = attestkit.PrivateKey.generate()
SIGNED = attestkit.sign_receipt(make_receipt(), KEY)
T0 = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _classes() -> list[type[AttestkitError]]:
    found = [getattr(errors, name) for name in errors.__all__]
    return [c for c in found if inspect.isclass(c) and issubclass(c, AttestkitError)]


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__name__)
def test_each_class_is_the_stdlib_error_its_kind_is(cls: type[AttestkitError]) -> None:
    """Wrong values are ValueErrors, wrong types TypeErrors, and nothing else pretends to be either."""
    assert issubclass(cls, ValueError) == issubclass(cls, UsageError)
    assert issubclass(cls, TypeError) == issubclass(cls, ArgumentTypeError)
    instance = cls.__new__(cls)
    assert isinstance(instance, Exception) and isinstance(instance, AttestkitError)


def test_the_stdlib_classes_are_pinned() -> None:
    value_errors = sorted(c.__name__ for c in _classes() if issubclass(c, ValueError))
    type_errors = sorted(c.__name__ for c in _classes() if issubclass(c, TypeError))
    assert value_errors == [
        "ArgumentTypeError",
        "DraftRefused",
        "KeyringEditError",
        "PipelineError",
        "ResignRefused",
        "UsageError",
        "WebhookInputTypeError",
        "WebhookSecretError",
    ]
    assert type_errors == ["ArgumentTypeError", "WebhookInputTypeError"]
    assert attestkit.ArgumentTypeError is ArgumentTypeError


def test_a_usage_error_raised_by_the_library_is_caught_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="no trusted key given") as caught:
        attestkit.verify_receipt(SIGNED)
    assert type(caught.value) is UsageError and caught.value.code == "usage" and caught.value.exit_code == 2
    with pytest.raises(ValueError, match="unknown webhook scheme"):
        attestkit.sign_webhook(b"{}", "s", scheme="nope")


def test_a_wrong_type_is_a_type_error_that_keeps_the_usage_code() -> None:
    for call, message in [
        (lambda: attestkit.parse_public_key(b"ed25519:00"), "a public key must be str, not bytes"),
        (lambda: attestkit.parse_receipt("{}"), "receipt data must be bytes or bytearray, not str"),
        (lambda: attestkit.verify_with_options(SIGNED, {"trusted": []}), "options must be VerifyOptions, not dict"),
        (lambda: attestkit.verify_receipt(SIGNED, trusted_keys=[KEY.public_key], policies=None), "expected a list"),
        (lambda: attestkit.builtin_policy(None), "a policy name must be str, not NoneType"),
        (lambda: attestkit.hash_file(3), "a path must be str or PathLike, not int"),
        (lambda: attestkit.verify_webhook(b"", {}, ["s"], now="0"), "now must be int or float, not str"),
        (lambda: attestkit.sign_webhook(b"", "s", timestamp=True), "timestamp must be int, not bool"),
    ]:
        with pytest.raises(TypeError, match=message) as caught:
            call()  # type: ignore[no-untyped-call]
        assert isinstance(caught.value, ArgumentTypeError) and caught.value.code == "usage"
        assert caught.value.exit_code == 2


def test_an_int_path_is_refused_not_read_as_a_file_descriptor(tmp_path: Path) -> None:
    """``open(3)`` reads (and closes) descriptor 3: a key loader given an int must refuse it."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, KEY.to_pem())
        for call in (
            attestkit.load_private_key_file,
            attestkit.load_trusted_keys_file,
            attestkit.read_receipt_file,
            attestkit.load_public_key,
        ):
            with pytest.raises(ArgumentTypeError, match="a path must be str, not int"):
                call(read_end)  # type: ignore[arg-type]
            os.fstat(read_end)  # still open
        assert os.read(read_end, 1)  # and nothing was consumed from it
    finally:
        os.close(read_end)
        os.close(write_end)
    with pytest.raises(UsageError, match="NUL"):
        attestkit.read_receipt_file(str(tmp_path) + "/a\x00b")
    with pytest.raises(UsageError, match="NUL"):
        attestkit.hash_path(str(tmp_path) + "/a\x00b")
    # Path objects still work as before.
    (tmp_path / "r.json").write_bytes(attestkit.canonicalize(SIGNED))
    assert attestkit.read_receipt_file(tmp_path / "r.json").data == SIGNED  # type: ignore[arg-type]


# ---- junk never lets a foreign exception out --------------------------------------------

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.builds(object),
    st.just(Ellipsis),
    st.sampled_from([b"{}", b"[]", "ed25519:" + "0" * 64, "-----BEGIN", "require-tests", "max-age=", "p.rego"]),
)
JUNK = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)
# Paths: relative, in an empty working directory, and never ``-`` (standard input).
PATHS = JUNK.filter(
    lambda v: not (isinstance(v, (str, bytes)) and (v[:1] in ("/", b"/", "-", "~") or v in (".", "..")))
)


def _ok(call: Callable[[], object]) -> None:
    try:
        call()
    except AttestkitError:
        pass


_receipt = attestkit.canonicalize(SIGNED)
_keys = [KEY.public_key]
CALLS: dict[str, Callable[[Any], object]] = {
    "canonicalize": attestkit.canonicalize,
    "parse_receipt": attestkit.parse_receipt,
    "parse_receipt(source=)": lambda j: attestkit.parse_receipt(b"{}", source=j),
    "parse_receipt(fmt=)": lambda j: attestkit.parse_receipt(b"{}", fmt=j),
    "receipt_from_mapping": attestkit.receipt_from_mapping,
    "parse_public_key": attestkit.parse_public_key,
    "parse_private_key": attestkit.parse_private_key,
    "parse_private_key(passphrase=)": lambda j: attestkit.parse_private_key(KEY.to_pem(b"pass"), j),
    "parse_trusted_keys": attestkit.parse_trusted_keys,
    "parse_trusted_keys(source=)": lambda j: attestkit.parse_trusted_keys("ed25519:" + "0" * 64, j),
    "sign_receipt": lambda j: attestkit.sign_receipt(j, KEY),
    "sign_receipt(key)": lambda j: attestkit.sign_receipt(SIGNED, j),
    "sign_receipt(signer=)": lambda j: attestkit.sign_receipt(make_receipt(), KEY, signer=j),
    "verify_receipt": lambda j: attestkit.verify_receipt(j, trusted_keys=_keys, now=T0),
    "verify_receipt(trusted_keys=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=j),
    "verify_receipt(now=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=_keys, now=j),
    "verify_receipt(tolerance=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=_keys, tolerance=j),
    "verify_receipt(policies=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=_keys, policies=j),
    "verify_receipt(scope=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=_keys, scope=j),
    "verify_receipt(source=)": lambda j: attestkit.verify_receipt(_receipt, trusted_keys=_keys, source=j),
    "verify_with_options": lambda j: attestkit.verify_with_options(_receipt, j),
    "VerifyOptions": lambda j: attestkit.VerifyOptions(trusted=j),
    "Verifier": lambda j: attestkit.Verifier(j),
    "builtin_policy": attestkit.builtin_policy,
    "load_policy_text(name)": lambda j: attestkit.load_policy_text(j, b"rules: []"),
    "load_policy_text(data)": lambda j: attestkit.load_policy_text("p.yaml", j),
    "verify_webhook(body)": lambda j: attestkit.verify_webhook(j, {}, ["s"]),
    "verify_webhook(headers)": lambda j: attestkit.verify_webhook(b"{}", j, ["s"]),
    "verify_webhook(secrets)": lambda j: attestkit.verify_webhook(b"{}", {}, j),
    "verify_webhook(schemes=)": lambda j: attestkit.verify_webhook(b"{}", {}, ["s"], schemes=j),
    "verify_webhook(now=)": lambda j: attestkit.verify_webhook(b"{}", {}, ["s"], now=j),
    "verify_webhook(tolerance=)": lambda j: attestkit.verify_webhook(b"{}", {}, ["s"], tolerance=j),
    "WebhookVerifier": lambda j: attestkit.WebhookVerifier(j),
    "sign_webhook(body)": lambda j: attestkit.sign_webhook(j, "s"),
    "sign_webhook(secret)": lambda j: attestkit.sign_webhook(b"{}", j),
    "sign_webhook(scheme=)": lambda j: attestkit.sign_webhook(b"{}", "s", scheme=j),
    "sign_webhook(message_id=)": lambda j: attestkit.sign_webhook(b"{}", "s", scheme="standard", message_id=j),
    "sign_webhook(timestamp=)": lambda j: attestkit.sign_webhook(b"{}", "s", timestamp=j),
}
PATH_CALLS: dict[str, Callable[[Any], object]] = {
    "hash_file": attestkit.hash_file,
    "hash_tree": attestkit.hash_tree,
    "hash_path": attestkit.hash_path,
    "tree_manifest": attestkit.tree_manifest,
    "load_private_key_file": attestkit.load_private_key_file,
    "load_public_key": attestkit.load_public_key,
    "load_trusted_keys_file": attestkit.load_trusted_keys_file,
    "read_receipt_file": attestkit.read_receipt_file,
}


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=JUNK)
def test_junk_arguments_raise_only_attestkit_errors(name: str, junk: Any) -> None:
    _ok(lambda: CALLS[name](junk))


@pytest.mark.parametrize("name", sorted(PATH_CALLS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=PATHS)
def test_junk_paths_raise_only_attestkit_errors(
    name: str, junk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _ok(lambda: PATH_CALLS[name](junk))


def test_the_junk_tests_cover_every_public_function() -> None:
    """A new public function needs a junk row here."""
    covered = {name.split("(")[0] for name in [*CALLS, *PATH_CALLS]}
    public = {
        name
        for name in attestkit.__all__
        if inspect.isfunction(getattr(attestkit, name)) or name in ("Verifier", "VerifyOptions", "WebhookVerifier")
    }
    # fetch_receipt_document needs a server; tests/unit/adapters/test_fetch.py feeds it junk answers.
    assert public - covered == {"fetch_receipt_document"}


def test_right_types_still_work() -> None:
    """The guards refuse junk, not what the docstrings promise."""
    assert attestkit.parse_receipt(bytearray(_receipt)).data == SIGNED
    assert attestkit.verify_receipt(_receipt, trusted_keys=_keys, now=T0, tolerance=timedelta(0)).valid
    assert attestkit.verify_receipt(_receipt, trusted_keys=_keys, now=T0, policies=iter([])).valid
    headers = attestkit.sign_webhook(b"{}", "s", timestamp=int(T0.timestamp()))
    assert attestkit.verify_webhook(b"{}", headers, ("s",), schemes=iter(["attest"]), now=T0.timestamp()).body == b"{}"
    assert attestkit.verify_webhook(b"{}", headers, "s", now=int(T0.timestamp())).body == b"{}"


# ---- the `except ValueError` sites -------------------------------------------------------
# Every `except ValueError` in attestkit/ was audited when UsageError became a ValueError: each
# guards only stdlib or peer calls and these four helpers, which raise a plain ValueError (the
# caller turns it into the right attestkit error). Were one to raise a UsageError, a site that
# maps ValueError to "not a time" (vsa.py, artifacts.py) would still fail closed, but the reason
# would be lost; this pins the assumption.


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_the_value_parsers_behind_except_valueerror_raise_plain_value_errors(text: str) -> None:
    from attestkit.core.timeutil import parse_duration, parse_rfc3339
    from attestkit.core.tlog.note import b64decode
    from attestkit.core.tlog.witness import parse_request

    for call in (
        lambda: parse_rfc3339(text),
        lambda: parse_duration(text),
        lambda: b64decode(text, "x"),
        lambda: parse_request(text.encode("utf-8", "surrogatepass")),
    ):
        try:
            call()
        except ValueError as exc:
            assert type(exc) is ValueError, type(exc)
