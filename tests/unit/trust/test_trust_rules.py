"""Issue 14 items 1-3: revocation is one-way, every trust source is honoured, delegation narrows.

Each flaw is reproduced through the CLI (a subprocess of the installed command) and through
the library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt, verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.chain import MAX_RECEIPT_DELEGATIONS, decide_trust
from attestkit.core.trust.delegation import create_delegation, parse_delegation
from attestkit.core.trust.keyring import parse_keyring
from attestkit.core.trust.store import TrustedKey, TrustStore
from attestkit.errors import TrustStoreError
from tests.conftest import NOW, CliResult, assert_one_line_error, make_receipt, write_json

NOW_DT = parse_rfc3339(NOW)
T = parse_rfc3339


def _keys(n: int, base: int = 90) -> list[PrivateKey]:
    return [PrivateKey.from_seed(bytes([i + base]) * 32) for i in range(n)]


def _keyfiles(cli: Callable[..., CliResult], tmp_path: Path, *names: str) -> None:
    for name in names:
        assert cli("keys", "generate", "--out-dir", str(tmp_path / "k"), "--name", name).code == 0


def _pub(tmp_path: Path, name: str) -> str:
    return (tmp_path / "k" / f"{name}.pub").read_text().strip()


def _signed_file(cli: Callable[..., CliResult], tmp_path: Path, key: str, name: str, **fields: Any) -> str:
    path = write_json(tmp_path / f"{name}.json", make_receipt(**fields))
    assert cli("sign", str(path), "--key", str(tmp_path / "k" / f"{key}.key"), "-o", str(path)).code == 0
    return str(path)


# ---- 14.1 revocation is one-way ------------------------------------------------------


def _compromised_ring(cli: Callable[..., CliResult], tmp_path: Path) -> tuple[str, str]:
    _keyfiles(cli, tmp_path, "ci")
    ring = str(tmp_path / "ring.yaml")
    assert cli("keys", "trust", _pub(tmp_path, "ci"), "--keyring", ring, "--identity", "ci@company.com").code == 0
    revoked = cli("keys", "revoke", _pub(tmp_path, "ci"), "--keyring", ring, "--reason", "key-compromise",
                  "--effective-date", "2026-11-01T00:00:00Z")  # fmt: skip
    assert revoked.code == 0, revoked.err
    return ring, _signed_file(cli, tmp_path, "ci", "stolen")


def test_rotate_cannot_unrevoke_a_compromised_key(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ring, stolen = _compromised_ring(cli, tmp_path)
    before = Path(ring).read_bytes()
    rotated = cli("keys", "rotate", "--keyring", ring, "--old", _pub(tmp_path, "ci"), "--out-dir", str(tmp_path / "v2"))
    assert rotated.code == 2 and "key-compromise" in rotated.err and "weaken" in rotated.err
    assert_one_line_error(rotated)
    assert Path(ring).read_bytes() == before
    assert not (tmp_path / "v2" / "attestkit.key").exists()  # no orphaned key pair
    result = cli("verify", stolen, "--trusted-keys-file", ring, "--now", NOW, "--json")
    assert result.code == 1 and result.json_lines()[0]["chain_of_trust"] == "revoked"


@pytest.mark.parametrize(
    ("reason", "date"),
    [
        ("retired", "2030-01-01T00:00:00Z"),
        ("superseded", "2026-01-01T00:00:00Z"),  # earlier, but a weaker reason
        ("key-compromise", "2026-11-15T00:00:00Z"),  # same reason, later date
    ],
)
def test_revoke_cannot_weaken_a_revocation(
    cli: Callable[..., CliResult], tmp_path: Path, reason: str, date: str
) -> None:
    ring, stolen = _compromised_ring(cli, tmp_path)
    before = Path(ring).read_bytes()
    weaker = cli(
        "keys", "revoke", _pub(tmp_path, "ci"), "--keyring", ring, "--reason", reason, "--effective-date", date
    )
    assert weaker.code == 2 and "weaken" in weaker.err, weaker.err
    assert_one_line_error(weaker)
    assert Path(ring).read_bytes() == before
    result = cli("verify", stolen, "--trusted-keys-file", ring, "--now", NOW, "--json")
    assert result.code == 1 and result.json_lines()[0]["chain_of_trust"] == "revoked"


def test_stronger_revocations_are_allowed(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _keyfiles(cli, tmp_path, "ci")
    ring = str(tmp_path / "ring.yaml")
    assert cli("keys", "trust", _pub(tmp_path, "ci"), "--keyring", ring).code == 0
    early = _signed_file(cli, tmp_path, "ci", "early", timestamp="2026-11-10T00:00:00Z")
    steps = [
        ("retired", "2026-12-01T00:00:00Z", 0),  # early receipt still valid
        ("retired", "2026-11-05T00:00:00Z", 1),  # earlier date: stronger
        ("superseded", "2026-11-05T00:00:00Z", 1),  # same strength, same date: a relabel
        ("key-compromise", "2027-01-01T00:00:00Z", 1),  # stronger reason: kept with the earlier date
    ]
    for reason, date, expected in steps:
        made = cli(
            "keys", "revoke", _pub(tmp_path, "ci"), "--keyring", ring, "--reason", reason, "--effective-date", date
        )
        assert made.code == 0, made.err
        assert cli("verify", early, "--trusted-keys-file", ring, "--now", NOW).code == expected, (reason, date)
    entry = parse_keyring(Path(ring).read_text()).keys[0]
    assert entry.revocation_reason == "key-compromise" and entry.revoked_at == T("2026-11-05T00:00:00Z")


# ---- 14.2 every trust source is honoured ---------------------------------------------


def test_revocation_in_a_keyring_wins_over_a_plain_key(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    ring, stolen = _compromised_ring(cli, tmp_path)
    plain = tmp_path / "plain.txt"
    plain.write_text(_pub(tmp_path, "ci") + "\n")
    for trust in (
        ["--public-key", _pub(tmp_path, "ci"), "--trusted-keys-file", ring],
        ["--trusted-keys-file", str(plain), "--trusted-keys-file", ring],
        ["--trusted-keys-file", ring, "--trusted-keys-file", str(plain)],
    ):
        result = cli("verify", stolen, *trust, "--now", NOW, "--json")
        assert result.code == 1, (trust, result.out)
        assert result.json_lines()[0]["chain_of_trust"] == "revoked"


def test_most_restrictive_statement_wins_in_the_library() -> None:
    (key,) = _keys(1)
    receipt = sign_receipt(make_receipt(), key)  # timestamp 2026-11-20T10:00:00Z
    plain = TrustStore.of([key.public_key])
    ring = TrustStore((TrustedKey(key.public_key, identity="ci@company.com", scopes=("a", "b"),
                                  not_before=T("2026-01-01T00:00:00Z")),))  # fmt: skip
    narrow = TrustStore((TrustedKey(key.public_key, scopes=("b", "c"), not_after=T("2026-11-01T00:00:00Z")),))
    compromised = TrustStore(
        (TrustedKey(key.public_key, revoked_at=T("2027-01-01T00:00:00Z"), revocation_reason="key-compromise"),)
    )
    for first, second in ((plain, compromised), (compromised, plain)):
        merged = first.merged(second)
        assert len(merged) == 1
        assert verify_receipt(receipt, trusted_keys=merged, now=NOW_DT).chain_of_trust == "revoked"
    merged = ring.merged(narrow)
    entry = merged.keys[0]
    assert entry.identity == "ci@company.com" and entry.scopes == ("b",)
    assert (entry.not_before, entry.not_after) == (T("2026-01-01T00:00:00Z"), T("2026-11-01T00:00:00Z"))
    assert verify_receipt(receipt, trusted_keys=merged, now=NOW_DT).chain_of_trust == "expired"
    assert verify_receipt(receipt, trusted_keys=ring, now=NOW_DT, scope="a").valid
    assert not verify_receipt(receipt, trusted_keys=ring.merged(plain), now=NOW_DT, scope="a").valid
    # A plain list carries no identity: the keyring's identity still binds the signer.
    liar = sign_receipt(make_receipt(signer="release@company.com"), key)
    assert verify_receipt(liar, trusted_keys=plain.merged(ring), now=NOW_DT).failed_checks[0].code == "signer-mismatch"
    # The same key given twice as a plain key is one entry.
    assert len(TrustStore.of([key.public_key, key.public_key.text])) == 1


def test_conflicting_identities_are_a_usage_error(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (key,) = _keys(1)
    with pytest.raises(TrustStoreError, match="conflicting identities"):
        TrustStore((TrustedKey(key.public_key, identity="a@x"), TrustedKey(key.public_key, identity="b@x")))
    ring_a, ring_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    ring_a.write_text(f"keys:\n  - {{public_key: {key.public_key.text}, identity: ci@company.com}}\n")
    ring_b.write_text(f"keys:\n  - {{public_key: {key.public_key.text}, identity: release@company.com}}\n")
    receipt = write_json(tmp_path / "r.json", sign_receipt(make_receipt(), key))
    result = cli("verify", str(receipt), "--trusted-keys-file", str(ring_a), "--trusted-keys-file", str(ring_b))
    assert result.code == 2 and "conflicting identities" in result.err
    assert "a.yaml" in result.err and "b.yaml" in result.err
    assert_one_line_error(result)


# ---- 14.3 delegation narrows authority -----------------------------------------------


def _root_store(root: PrivateKey, **fields: Any) -> TrustStore:
    fields.setdefault("scopes", ("project:myapp",))
    return TrustStore((TrustedKey(root.public_key, identity="release@company.com", roles=("root",), **fields),))


def _link(parent: PrivateKey, child: PrivateKey, **kw: Any) -> dict[str, Any]:
    kw.setdefault("identity", "ci@company.com")
    kw.setdefault("scopes", ["project:myapp"])
    return create_delegation(parent, child.public_key, **kw)


def _codes(receipt: dict[str, Any], store: TrustStore, **kw: Any) -> set[str]:
    kw.setdefault("now", NOW_DT)
    result = verify_receipt(receipt, trusted_keys=store, **kw)
    assert not result.valid
    return {check.code for check in result.failed_checks}


def test_a_delegate_cannot_mint_identities() -> None:
    """The reported chain: root -> ci@company.com -> release-manager@company.com."""
    root, ci, minted = _keys(3)
    chain = [_link(root, ci), _link(ci, minted, identity="release-manager@company.com")]
    receipt = sign_receipt(make_receipt(delegations=chain, signer="release-manager@company.com"), minted)
    assert "may-not-delegate" in _codes(receipt, _root_store(root))
    # Even when the root allows re-delegation, the identity cannot change along the chain.
    chain = [_link(root, ci, may_delegate=True), _link(ci, minted, identity="release-manager@company.com")]
    receipt = sign_receipt(make_receipt(delegations=chain), minted)
    assert "identity-not-narrowed" in _codes(receipt, _root_store(root))


def test_re_delegation_when_allowed_narrows() -> None:
    root, ci, job = _keys(3)
    chain = [
        _link(root, ci, may_delegate=True, scopes=["project:myapp", "project:b"],
              not_after=T("2026-12-31T00:00:00Z")),
        _link(ci, job, identity=None, scopes=["project:myapp", "project:other"]),
    ]  # fmt: skip
    receipt = sign_receipt(make_receipt(delegations=chain), job)
    store = TrustStore((TrustedKey(root.public_key, roles=("root",), scopes=("project:myapp", "project:other")),))
    result = verify_receipt(receipt, trusted_keys=store, now=NOW_DT, scope="project:myapp")
    assert result.valid and result.signer == "ci@company.com"  # inherited, never widened
    assert [link.identity for link in result.chain] == ["ci@company.com", "ci@company.com", None]
    # project:other is granted by the root and claimed by the last link, but not by the middle one.
    assert "out-of-scope" in _codes(receipt, store, scope="project:other")
    late = sign_receipt(make_receipt(delegations=chain, timestamp="2027-01-02T00:00:00Z"), job)
    assert "delegation-expired" in _codes(late, store, now=T("2027-01-02T00:00:00Z"))


def test_a_delegated_key_can_be_revoked(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _keyfiles(cli, tmp_path, "root", "ci")
    ring = str(tmp_path / "ring.yaml")
    assert cli("keys", "trust", _pub(tmp_path, "root"), "--keyring", ring, "--role", "root").code == 0
    statement = tmp_path / "d.json"
    made = cli("keys", "delegate", "--keyring", ring, "--key", str(tmp_path / "k" / "root.key"),
               "--delegate", _pub(tmp_path, "ci"), "--identity", "ci@company.com", "--not-before", "2026-01-01T00:00:00Z",
               "-o", str(statement))  # fmt: skip
    assert made.code == 0, made.err
    receipt = _signed_file(cli, tmp_path, "ci", "r", delegations=[json.loads(statement.read_text())])
    assert cli("verify", receipt, "--trusted-keys-file", ring, "--now", NOW).code == 0
    revoked = cli("keys", "revoke", _pub(tmp_path, "ci"), "--keyring", ring, "--reason", "key-compromise")
    assert revoked.code == 0, revoked.err
    result = cli("verify", receipt, "--trusted-keys-file", ring, "--now", NOW, "--json")
    assert result.code == 1 and result.json_lines()[0]["chain_of_trust"] == "revoked"
    listing = cli("keys", "list", "--keyring", ring, "--json").json_lines()
    assert [row["status"] for row in listing] == ["active", "revoked (key-compromise)"]
    # A revoked delegate is never trusted directly: the revocation is not a trust entry.
    assert len(parse_keyring(Path(ring).read_text())) == 1


def test_keys_delegate_refuses_a_key_that_may_not_delegate(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    _keyfiles(cli, tmp_path, "root", "ci", "job")
    ring = str(tmp_path / "ring.yaml")
    assert cli("keys", "trust", _pub(tmp_path, "root"), "--keyring", ring, "--role", "root").code == 0
    assert cli("keys", "trust", _pub(tmp_path, "ci"), "--keyring", ring).code == 0
    refused = cli("keys", "delegate", "--keyring", ring, "--key", str(tmp_path / "k" / "ci.key"),
                  "--delegate", _pub(tmp_path, "job"), "-o", str(tmp_path / "d.json"))  # fmt: skip
    assert refused.code == 2 and "root" in refused.err and not (tmp_path / "d.json").exists()
    assert_one_line_error(refused)


# ---- 15.1 delegation graphs: bounded work ----------------------------------------------


def _complete_graph(keys: list[PrivateKey], **kw: Any) -> list[dict[str, Any]]:
    return [create_delegation(a, b.public_key, identity="ci@company.com", may_delegate=True, **kw)
            for a in keys for b in keys if a is not b]  # fmt: skip


def test_complete_delegation_graph_in_a_receipt_is_refused(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Issue 15.1: 380 such statements took 14 s (O(n^5)); now refused before any is parsed."""
    keys = _keys(12, base=120)
    root = _keys(1, base=200)[0]
    statements = _complete_graph(keys)
    assert len(statements) > MAX_RECEIPT_DELEGATIONS
    attack = sign_receipt(make_receipt(delegations=statements), keys[0])
    assert _codes(attack, _root_store(root)) == {"too-many-delegations"}
    # In a bulk run the attack is one failure and the next receipt is still checked.
    good = sign_receipt(make_receipt(), root)
    folder = tmp_path / "receipts"
    folder.mkdir()
    write_json(folder / "a-attack.json", attack)
    write_json(folder / "b-good.json", good)
    result = cli("verify", str(folder), "--public-key", root.public_key.text, "--now", NOW, "--json")
    lines = result.json_lines()
    assert result.code == 1 and [line["valid"] for line in lines] == [False, True]
    # At the cap, a legitimate chain still verifies.
    ci = keys[0]
    padding = [_link(k, ci) for k in keys[1:]][: MAX_RECEIPT_DELEGATIONS - 1]
    at_cap = sign_receipt(make_receipt(delegations=[*padding, _link(root, ci)]), ci)
    assert len(at_cap["delegations"]) <= MAX_RECEIPT_DELEGATIONS
    assert verify_receipt(at_cap, trusted_keys=_root_store(root), now=NOW_DT).valid


def test_delegation_search_work_is_linear_in_the_graph() -> None:
    """A complete graph in a keyring (no cap there): each link is examined a bounded number of times."""
    keys = _keys(14, base=120)
    root, outsider = _keys(2, base=200)
    graph = [parse_delegation(s) for s in _complete_graph(keys)]
    # Unreachable from any root: the forward search never starts; the diagnosis visits each link once.
    store = TrustStore(_root_store(root).keys, tuple(graph))
    decision = decide_trust(keys[0].public_key, store, NOW_DT)
    assert not decision.trusted and decision.explored <= len(graph)
    # Every key reachable from the root with re-delegation allowed, target not in the graph.
    granted = [parse_delegation(_link(root, k, may_delegate=True)) for k in keys]
    store = TrustStore(_root_store(root).keys, (*granted, *graph))
    decision = decide_trust(outsider.public_key, store, NOW_DT)
    assert decision.code == "untrusted-key" and decision.explored <= 2 * len(store.delegations)
    decision = decide_trust(keys[-1].public_key, store, NOW_DT)
    assert decision.trusted and len(decision.chain) == 2 and decision.explored <= 2 * len(store.delegations)


def test_re_delegation_walkthrough_from_the_docs(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """docs/keys.md: release -> ci (--may-delegate) -> job (--via), and what keys delegate refuses."""
    _keyfiles(cli, tmp_path, "release", "ci", "job")
    ring = str(tmp_path / "ring.yaml")
    made = cli("keys", "trust", _pub(tmp_path, "release"), "--keyring", ring, "--role", "root",
               "--identity", "release@company.com", "--scope", "project:myapp")  # fmt: skip
    assert made.code == 0
    key = lambda name: str(tmp_path / "k" / f"{name}.key")  # noqa: E731
    ci_json, job_json = str(tmp_path / "ci.json"), str(tmp_path / "job.json")
    made = cli("keys", "delegate", "--keyring", ring, "--key", key("release"), "--delegate", _pub(tmp_path, "ci"),
               "--identity", "ci@company.com", "--scope", "project:myapp", "--may-delegate",
               "--not-before", "2026-01-01T00:00:00Z", "-o", ci_json)  # fmt: skip
    assert made.code == 0, made.err
    job = ["keys", "delegate", "--keyring", ring, "--key", key("ci"), "--delegate", _pub(tmp_path, "job"),
           "--scope", "project:myapp", "--not-before", "2026-01-01T00:00:00Z", "-o", job_json]  # fmt: skip
    refused = {
        "no --via": cli(*job),
        "wider identity": cli(*job, "--via", ci_json, "--identity", "release-manager@company.com"),
        "wider scope": cli(*job, "--via", ci_json, "--scope", "project:other"),
    }
    for name, result in refused.items():
        assert result.code == 2 and not Path(job_json).exists(), (name, result.err)
        assert_one_line_error(result)
    assert "identity" in refused["wider identity"].err and "project:other" in refused["wider scope"].err
    made = cli(*job, "--via", ci_json)
    assert made.code == 0, made.err
    chain = [json.loads(Path(ci_json).read_text()), json.loads(Path(job_json).read_text())]
    receipt = _signed_file(cli, tmp_path, "job", "r", delegations=chain)
    result = cli("verify", receipt, "--trusted-keys-file", ring, "--scope", "project:myapp", "--now", NOW, "--json")
    assert result.code == 0, result.out
    line = result.json_lines()[0]
    assert line["signature_verification"]["signer"] == "ci@company.com" and len(line["chain"]) == 3
