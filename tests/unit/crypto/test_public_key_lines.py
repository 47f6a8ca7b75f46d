"""A public key is one line: a second line (a second key) is refused, never silently dropped.

An ``ssh-ed25519`` file with two key lines used to trust the first key and ignore the second
(the line pattern's ``\\s`` matched the line break); a keyring ``public_key`` value spanning
lines did the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from attestkit.core.crypto.keys import PrivateKey, parse_public_key
from attestkit.core.trust.keyring import parse_trusted_keys
from attestkit.errors import KeyFormatError, TrustStoreError
from tests.conftest import CliResult, assert_one_line_error, make_receipt, write_json

A, B = PrivateKey.from_seed(b"\x51" * 32).public_key, PrivateKey.from_seed(b"\x52" * 32).public_key


@pytest.mark.parametrize(
    "text",
    [
        f"{B.to_openssh()}\n{A.to_openssh()}\n",
        f"{B.to_openssh()}\r\n{A.to_openssh()}\r\n",
        f"{B.to_openssh('b@host')}\n{A.to_openssh()}",
        f"{B.to_openssh()}\u2028{A.to_openssh()}",
        f"{B.to_openssh()}\x0b{A.to_openssh()}",
        f"{B.text}\n{A.text}",
    ],
)
def test_two_lines_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError, match="more than one line"):
        parse_public_key(text)


def test_one_line_forms_still_read() -> None:
    assert parse_public_key(A.to_openssh("ci@host") + "\r\n") == A
    assert parse_public_key("\n" + A.to_openssh() + "\n\n") == A
    assert parse_public_key(A.to_pem().decode()) == A


def test_keyring_public_key_over_two_lines_is_refused() -> None:
    ring = f"version: 1\nkeys:\n  - public_key: |\n      {B.to_openssh()}\n      {A.to_openssh()}\n"
    with pytest.raises(TrustStoreError, match=r"keys\[0\]: holds more than one line"):
        parse_trusted_keys(ring, "ring.yaml")


def test_cli_refuses_a_two_line_public_key_file(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    assert cli("keys", "generate", "--out-dir", str(tmp_path), "--name", "a").code == 0
    a_pub = tmp_path / "a.pub"
    exported = cli("keys", "export", str(a_pub), "--format", "openssh")
    assert exported.code == 0
    two = tmp_path / "two.pub"
    two.write_text(B.to_openssh() + "\n" + exported.out)
    unsigned = write_json(tmp_path / "r.u.json", make_receipt())
    signed = tmp_path / "r.json"
    assert cli("sign", str(unsigned), "--key", str(tmp_path / "a.key"), "-o", str(signed)).code == 0
    for args in (("verify", str(signed), "--public-key", str(two)), ("keys", "show", str(two))):
        result = cli(*args)
        assert result.code == 2, (args, result.out, result.err)
        assert_one_line_error(result)
        assert str(two) in result.err and "more than one line" in result.err
