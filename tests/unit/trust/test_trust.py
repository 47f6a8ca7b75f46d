"""Keyrings and delegation chains: windows, revocation, roles, cycles, depth, the CLI verbs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import format_rfc3339, parse_rfc3339, utc_now
from attestkit.core.trust.delegation import DELEGATION_TYPE, create_delegation, parse_delegation
from attestkit.core.trust.keyring import parse_keyring
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.errors import TrustStoreError
from tests.conftest import NOW, CliResult, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)
T = parse_rfc3339


def _keys(n: int) -> list[PrivateKey]:
    return [PrivateKey.from_seed(bytes([i + 40]) * 32) for i in range(n)]


def _root_store(root: PrivateKey, **fields: Any) -> TrustStore:
    fields.setdefault("scopes", ("project:myapp",))
    return TrustStore((TrustedKey(root.public_key, identity="release@company.com", roles=("root",), **fields),))


def _delegate(parent: PrivateKey, child: PrivateKey, **kw: Any) -> dict[str, Any]:
    kw.setdefault("identity", "ci@company.com")
    kw.setdefault("scopes", ["project:myapp"])
    return create_delegation(parent, child.public_key, **kw)


def _verify(receipt: dict[str, Any], store: TrustStore, **kw: Any) -> Any:
    return verify_receipt(receipt, trusted_keys=store, now=NOW_DT, **kw)


def test_delegated_key_via_receipt_and_keyring() -> None:
    root, ci = _keys(2)
    statement = _delegate(root, ci)
    carried = sign_receipt(make_receipt(delegations=[statement]), ci)
    result = _verify(carried, _root_store(root), scope="project:myapp")
    assert result.valid and result.chain_of_trust == "verified"
    assert [link.source for link in result.chain] == ["delegation", "keyring"]
    assert result.signer == "ci@company.com"
    assert result.to_dict()["chain"][0]["identity"] == "ci@company.com"
    plain = sign_receipt(make_receipt(), ci)
    store = TrustStore(_root_store(root).keys, (parse_delegation(statement),))
    assert _verify(plain, store).valid
    assert not _verify(plain, _root_store(root)).valid


def test_delegation_rules() -> None:
    root, ci, other = _keys(3)
    cases = {
        "no root role": (TrustStore((TrustedKey(root.public_key),)), _delegate(root, ci), "not-a-root"),
        "window over": (_root_store(root), _delegate(root, ci, not_after=T("2026-11-19T00:00:00Z")), "delegation-expired"),
        "window ahead": (_root_store(root), _delegate(root, ci, not_before=T("2026-11-21T00:00:00Z")), "delegation-not-yet-valid"),
        "root revoked": (_root_store(root, revoked_at=T("2026-12-01T00:00:00Z"), revocation_reason="key-compromise"), _delegate(root, ci), "revoked"),
        "forged": (_root_store(root), {**_delegate(root, ci), "identity": "admin@company.com"}, "bad-delegation"),
        "wrong signer": (_root_store(root), _delegate(other, ci), "untrusted-key"),
    }  # fmt: skip
    for name, (store, statement, code) in cases.items():
        result = _verify(sign_receipt(make_receipt(delegations=[statement]), ci), store)
        assert not result.valid, name
        assert code in {c.code for c in result.failed_checks}, (name, [c.message for c in result.failed_checks])
    scoped = sign_receipt(make_receipt(delegations=[_delegate(root, ci)]), ci)
    assert not _verify(scoped, _root_store(root), scope="project:other").valid


def test_chains_depth_and_cycles() -> None:
    keys = _keys(7)
    root, chain = keys[0], keys[1:]
    pairs = list(zip([root, *chain], chain, strict=False))
    # Without may_delegate, a delegate cannot pass its authority on (issue 14.3).
    plain = [_delegate(parent, child) for parent, child in pairs]
    four = sign_receipt(make_receipt(delegations=plain[:4]), chain[3])
    assert {c.code for c in _verify(four, _root_store(root)).failed_checks} == {"may-not-delegate"}
    allowed = [_delegate(parent, child, may_delegate=True) for parent, child in pairs]
    four = sign_receipt(make_receipt(delegations=allowed[:4]), chain[3])
    result = _verify(four, _root_store(root))
    assert result.valid and len(result.chain) == 5
    five = sign_receipt(make_receipt(delegations=allowed[:5]), chain[4])
    assert {c.code for c in _verify(five, _root_store(root)).failed_checks} == {"chain-too-long"}
    a, b = keys[1], keys[2]
    loop = [_delegate(a, b), _delegate(b, a)]
    assert not _verify(sign_receipt(make_receipt(delegations=loop), b), _root_store(root)).valid


def test_signer_claim_must_match_delegated_identity() -> None:
    root, ci = _keys(2)
    liar = sign_receipt(make_receipt(delegations=[_delegate(root, ci)], signer="release@company.com"), ci)
    assert {c.code for c in _verify(liar, _root_store(root)).failed_checks} == {"signer-mismatch"}


def test_delegation_is_never_a_receipt() -> None:
    root, ci = _keys(2)
    statement = _delegate(root, ci)
    statement_as_receipt = dict(statement, timestamp="2026-11-20T10:00:00Z")
    result = verify_receipt(statement_as_receipt, trusted_keys=[root.public_key], now=NOW_DT)
    assert not result.valid and result.checks[0].code == "not-a-receipt"
    with pytest.raises(TrustStoreError):
        parse_delegation(sign_receipt(make_receipt(), root))
    assert statement["type"] == DELEGATION_TYPE


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {public_key: KEY, reason: retired}", "reason given without revoked_at"),
        ("- {public_key: KEY, revoked_at: '2026-01-01T00:00:00Z', reason: lost}", "unknown revocation reason"),
        (
            "- {public_key: KEY, not_before: '2027-01-01T00:00:00Z', not_after: '2026-01-01T00:00:00Z'}",
            "not_after is before not_before",
        ),
        ("- {public_key: KEY, not_after: tomorrow}", "not_after"),
        ("- {public_key: KEY}\n  - {public_key: KEY}", "keys[1]: duplicate key"),
        ("- {public_key: KEY, colour: blue}", "unknown field 'colour'"),
        ("- {public_key: KEY, roles: [admin]}", "roles must be"),
    ],
)
def test_keyring_errors_name_the_entry(entry: str, message: str) -> None:
    key = _keys(1)[0].public_key.text
    with pytest.raises(TrustStoreError) as info:
        parse_keyring(f"version: 1\nkeys:\n  {entry.replace('KEY', key)}\n", "ring.yaml")
    assert message in str(info.value) and str(info.value).startswith("ring.yaml: ")


def _cli_keys(cli: Callable[..., CliResult], *args: str) -> CliResult:
    result = cli("keys", *args)
    assert "Traceback" not in result.err
    return result


def test_rotation_walkthrough(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """The walkthrough in docs/keys.md, command for command."""
    ring = str(tmp_path / "keyring.yaml")
    assert _cli_keys(cli, "generate", "--out-dir", str(tmp_path / "v1"), "--name", "ci").code == 0
    trusted = _cli_keys(cli, "trust", str(tmp_path / "v1" / "ci.pub"), "--keyring", ring,
                        "--identity", "ci-system@company.com", "--scope", "project:myapp")  # fmt: skip
    assert trusted.code == 0
    start = utc_now()
    soon, check_at = format_rfc3339(start + timedelta(minutes=1)), format_rfc3339(start + timedelta(minutes=2))
    unsigned = write_json(tmp_path / "r.json", make_receipt(timestamp=soon))
    old_receipt = tmp_path / "old.json"
    assert cli("sign", str(unsigned), "--key", str(tmp_path / "v1" / "ci.key"), "-o", str(old_receipt)).code == 0
    old_id = json.loads(_cli_keys(cli, "list", "--keyring", ring, "--json").out)["key_id"]
    rotated = _cli_keys(
        cli,
        "rotate",
        "--keyring",
        ring,
        "--old",
        old_id,
        "--out-dir",
        str(tmp_path / "v2"),
        "--name",
        "ci",
        "--transition",
        "7d",
    )
    assert rotated.code == 0 and (tmp_path / "keyring.yaml.bak").exists()
    listing = [json.loads(line) for line in _cli_keys(cli, "list", "--keyring", ring, "--json").out.splitlines()]
    assert [row["identity"] for row in listing] == ["ci-system@company.com"] * 2
    assert listing[0]["status"].startswith("active until") and listing[1]["status"] == "active"
    new_receipt = tmp_path / "new.json"
    assert cli("sign", str(unsigned), "--key", str(tmp_path / "v2" / "ci.key"), "-o", str(new_receipt)).code == 0
    for receipt, when, expected in [
        (old_receipt, check_at, 0),  # inside the transition
        (new_receipt, check_at, 0),
    ]:
        result = cli(
            "verify", str(receipt), "--trusted-keys-file", ring, "--scope", "project:myapp", "--now", when, "--json"
        )
        assert result.code == expected, result.out
        assert result.json_lines()[0]["signature_verification"]["signer"] == "ci-system@company.com"
    late = make_receipt(timestamp=format_rfc3339(start + timedelta(days=8)))
    late_receipt = write_json(tmp_path / "late.json", late)
    assert cli("sign", str(late_receipt), "--key", str(tmp_path / "v1" / "ci.key"), "-o", str(late_receipt)).code == 0
    after = format_rfc3339(start + timedelta(days=8, minutes=1))
    result = cli("verify", str(late_receipt), "--trusted-keys-file", ring, "--now", after, "--json")
    assert result.code == 1 and result.json_lines()[0]["chain_of_trust"] == "revoked"
    revoked = _cli_keys(cli, "revoke", old_id, "--keyring", ring, "--reason", "key-compromise")
    assert revoked.code == 0
    result = cli("verify", str(old_receipt), "--trusted-keys-file", ring, "--now", check_at, "--json")
    assert result.code == 1 and result.json_lines()[0]["chain_of_trust"] == "revoked"


def test_cli_delegate_and_verify_chain(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ring = str(tmp_path / "keyring.yaml")
    _cli_keys(cli, "generate", "--out-dir", str(tmp_path / "k"), "--name", "root")
    _cli_keys(cli, "generate", "--out-dir", str(tmp_path / "k"), "--name", "ci")
    assert (
        _cli_keys(
            cli,
            "trust",
            str(tmp_path / "k" / "root.pub"),
            "--keyring",
            ring,
            "--identity",
            "release@company.com",
            "--role",
            "root",
            "--scope",
            "project:myapp",
        ).code
        == 0
    )
    statement_file = tmp_path / "delegation.json"
    made = _cli_keys(cli, "delegate", "--keyring", ring, "--key", str(tmp_path / "k" / "root.key"), "--delegate", str(tmp_path / "k" / "ci.pub"),
                     "--identity", "ci@company.com", "--scope", "project:myapp", "--not-before", "2026-01-01T00:00:00Z", "-o", str(statement_file))  # fmt: skip
    assert made.code == 0
    receipt = make_receipt(delegations=[json.loads(statement_file.read_text())])
    path = write_json(tmp_path / "r.json", receipt)
    assert cli("sign", str(path), "--key", str(tmp_path / "k" / "ci.key"), "-o", str(path)).code == 0
    result = cli("verify", str(path), "--trusted-keys-file", ring, "--now", NOW, "--json")
    assert result.code == 0, result.out
    line = result.json_lines()[0]
    assert line["chain_of_trust"] == "verified"
    assert [link["identity"] for link in line["chain"]] == ["ci@company.com", "release@company.com"]


def test_keyring_cli_errors(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ring = tmp_path / "keyring.yaml"
    key = _keys(1)[0].public_key.text
    assert _cli_keys(cli, "trust", key, "--keyring", str(ring)).code == 0
    before = ring.read_bytes()
    duplicate = _cli_keys(cli, "trust", key, "--keyring", str(ring))
    assert duplicate.code == 2 and "already in the keyring" in duplicate.err and ring.read_bytes() == before
    assert _cli_keys(cli, "revoke", "0000000000000000", "--keyring", str(ring), "--reason", "retired").code == 2
    assert _cli_keys(cli, "trust", "ed25519:" + "00" * 32, "--keyring", str(ring)).code == 2
    ring.write_text("keys: [{public_key: nope}]\n")
    broken = _cli_keys(cli, "trust", key, "--keyring", str(ring))
    assert broken.code == 2 and ring.read_text() == "keys: [{public_key: nope}]\n"


def test_key_export_formats(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _cli_keys(cli, "generate", "--out-dir", str(tmp_path), "--name", "k")
    pem = _cli_keys(cli, "export", str(tmp_path / "k.pub"), "--format", "pem").out
    ssh = _cli_keys(cli, "export", str(tmp_path / "k.key"), "--format", "openssh").out
    text = (tmp_path / "k.pub").read_text().strip()
    (tmp_path / "k.pem").write_text(pem)
    (tmp_path / "k.ssh").write_text(ssh)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and ssh.startswith("ssh-ed25519 ")
    for exported in ("k.pem", "k.ssh"):
        assert _cli_keys(cli, "show", str(tmp_path / exported)).out.splitlines()[0] == text


@pytest.mark.parametrize(
    "head",
    [
        "revocations:\n  - public_key: {other}\n    revoked_at: 2020-01-01T00:00:00Z\n    reason: retired\nversion: 1\nkeys:\n",
        "---\nversion: 1\nkeys:\n",
        "%YAML 1.2\n---\n# the team's keyring\nkeys:\n",
        '"keys":\n',
        "'version': 1\nkeys:\n",
    ],
    ids=["revocations-first", "document-marker", "directive", "double-quoted", "single-quoted"],
)
def test_every_keyring_document_form_is_read_as_a_keyring(
    cli: Callable[..., CliResult], tmp_path: Path, head: str, key: PrivateKey, other_key: PrivateKey
) -> None:
    """Adversarial review: valid keyrings not starting with ``keys:``/``version:`` were read as key lists
    and refused with "not a recognised public key" (a revocation-only keyring written after a theft)."""
    ring = tmp_path / "ring.yaml"
    ring.write_text(head.format(other=other_key.public_key.text) + f"  - public_key: {key.public_key.text}\n")
    write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", "r.json", "--trusted-keys-file", "ring.yaml", "--now", NOW)
    assert result.code == 0, result.err
    assert parse_keyring(ring.read_text()).keys[0].public_key == key.public_key


def test_pem_files_hold_one_key_and_nothing_else(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, other_key: PrivateKey
) -> None:
    """Adversarial review: text around PEM markers, text after a block and a second block were ignored."""
    from attestkit.core.crypto.keys import parse_private_key, parse_public_key
    from attestkit.core.trust.store import parse_key_list
    from attestkit.errors import KeyFormatError

    pem, other = key.public_key.to_pem().decode(), other_key.public_key.to_pem().decode()
    write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    cases = {
        "garbage-after": pem + "GARBAGE\n",
        "two-blocks": other + pem,
        "end-suffix": pem.replace("PUBLIC KEY-----\n", "PUBLIC KEY-----GARBAGE\n").replace(
            "BEGIN PUBLIC KEY-----GARBAGE", "BEGIN PUBLIC KEY-----"
        ),
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.pem").write_text(text)
        result = cli("verify", "r.json", "--public-key", f"{name}.pem", "--now", NOW)
        assert result.code == 2, (name, result.out, result.err)
        with pytest.raises(KeyFormatError):
            parse_public_key(text)
    # In a trusted-keys list, a marker line with other text is not a block: refused whole.
    with pytest.raises(TrustStoreError):
        parse_key_list("junk " + pem)
    with pytest.raises(TrustStoreError):
        parse_key_list(cases["end-suffix"])
    assert len(parse_key_list(other + pem).keys) == 2  # a list may hold several blocks
    with pytest.raises(KeyFormatError, match="more than one"):
        parse_private_key(key.to_pem() + other_key.to_pem())
