"""Direct tests (no subprocess) of the logic that moved out of the CLI into the library (#17.2).

Keyring listing and edits on disk, key status, signing-key loading, the ATTEST API object,
the could-not-check JSON, the ``jobs`` heuristic, the shared click parameter types, and the
bulk summary.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attestkit.adapters.attest import AttestApi, attest_source
from attestkit.adapters.files import (
    load_private_key_env,
    load_private_key_file,
    load_public_key,
    load_signing_key,
    load_trusted_keys_file,
    read_receipt_file,
    write_keypair,
)
from attestkit.adapters.keyring_files import revoke, rotate, trust_key
from attestkit.cli.output import format_table
from attestkit.cli.params import DURATION, INSTANT, PUBLIC_KEY
from attestkit.core.crypto.keys import PrivateKey, parse_public_key
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.trust.chain import entry_problem
from attestkit.core.trust.keyring import key_status, keyring_listing, revocation_status
from attestkit.core.verify.bulk import SMALL_RUN, BulkOutcome, Tally, default_jobs
from attestkit.core.verify.result import VerificationResult, unchecked_checks, unchecked_dict
from attestkit.core.verify.verifier import verify_receipt
from attestkit.errors import (
    AttestkitError,
    FetchError,
    KeyFormatError,
    KeyPermissionError,
    KeyringEditError,
    MalformedReceiptError,
    UsageError,
)
from tests.conftest import NOW, make_receipt
from tests.http_server import FakeTime, Reply, serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


# --- click parameter types ---------------------------------------------------------------


def _option(name: str, kind: click.ParamType) -> click.Option:
    return click.Option([name], type=kind)


def test_duration_type_parses_and_names_the_option() -> None:
    assert DURATION.convert("90s", _option("--tolerance", DURATION), None) == timedelta(seconds=90)
    assert DURATION.convert(timedelta(hours=1), None, None) == timedelta(hours=1)
    with pytest.raises(UsageError, match=r"^--tolerance: not a duration"):
        DURATION.convert("5 minutes", _option("--tolerance", DURATION), None)


def test_instant_type_takes_rfc3339_and_unix_seconds() -> None:
    option = _option("--timestamp", INSTANT)
    assert INSTANT.convert("2026-11-20T12:00:00Z", option, None) == T0
    assert INSTANT.convert(str(int(T0.timestamp())), option, None) == T0
    with pytest.raises(UsageError, match=r"^--timestamp: .*RFC 3339 or Unix seconds"):
        INSTANT.convert("yesterday", option, None)


def test_public_key_type_keeps_the_loaders_error(key: PrivateKey, tmp_path: Path) -> None:
    option = _option("--public-key", PUBLIC_KEY)
    assert PUBLIC_KEY.convert(key.public_key.text, option, None) == key.public_key
    pub = tmp_path / "k.pub"
    pub.write_text(key.public_key.to_openssh() + "\n")
    assert PUBLIC_KEY.convert(str(pub), option, None) == key.public_key
    with pytest.raises(KeyFormatError, match="ed25519:<the 64 hex digits>"):
        PUBLIC_KEY.convert(key.public_key.text[8:], option, None)  # a bare 64-hex key gets the prefix hint


def test_metavars_are_the_shared_vocabulary() -> None:
    ctx = click.Context(click.Command("x"))
    metavars = [t.get_metavar(_option("--x", t), ctx) for t in (DURATION, INSTANT, PUBLIC_KEY)]
    assert metavars == ["DURATION", "TIME", "KEY"]


# --- keyrings on disk, key status --------------------------------------------------------


def test_keyring_listing_gives_dates_and_statuses_by_the_verifier_rules(key: PrivateKey, tmp_path: Path) -> None:
    ring = str(tmp_path / "ring.yaml")
    other = PrivateKey.generate().public_key
    delegated = PrivateKey.generate().public_key
    trust_key(ring, key.public_key, identity="ci@x", scopes=["a"], roles=["root"], not_before=T0 - timedelta(days=1),
              not_after=T0 + timedelta(days=30))  # fmt: skip
    trust_key(ring, other)
    assert revoke(ring, other.key_id, "superseded", T0 + timedelta(days=2)).startswith("superseded from 2026-11-22")
    assert revoke(ring, delegated.text, "key-compromise", T0) == "key-compromise from 2026-11-20T12:00:00Z"
    store = load_trusted_keys_file(ring)
    rows = keyring_listing(store, T0)
    assert [r.kind for r in rows] == ["key", "key", "revocation"]
    first = rows[0].to_dict()
    assert first["not_before"] == "2026-11-19T12:00:00Z" and first["not_after"] == "2026-12-20T12:00:00Z"
    assert first["status"] == "active" and first["roles"] == ["root"] and first["identity"] == "ci@x"
    assert rows[1].status == "active until 2026-11-22T12:00:00Z (superseded)"
    assert rows[2].to_dict()["revoked_at"] == "2026-11-20T12:00:00Z" and rows[2].status == "revoked (key-compromise)"
    # One owner for the rules: the listing's status follows entry_problem at any moment.
    for moment in (T0 - timedelta(days=2), T0, T0 + timedelta(days=3), T0 + timedelta(days=40)):
        for entry in store.keys:
            problem = entry_problem(entry, moment)
            assert (problem is None) == key_status(entry, moment).startswith("active")
    assert revocation_status(store, "no-such-key") == "revoked"


def test_rotate_writes_the_key_only_with_the_keyring(key: PrivateKey, tmp_path: Path) -> None:
    ring = str(tmp_path / "ring.yaml")
    trust_key(ring, key.public_key, identity="ci@x")
    new_key, key_path, pub_path = rotate(ring, key.public_key.key_id, str(tmp_path / "new"), "next", T0,
                                         timedelta(days=7))  # fmt: skip
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert load_public_key(pub_path) == new_key.public_key == load_private_key_file(key_path).public_key
    rows = keyring_listing(load_trusted_keys_file(ring), T0)
    assert rows[1].identity == "ci@x" and rows[1].not_before == T0
    # A refused edit (unknown key) leaves no key files behind.
    with pytest.raises(KeyringEditError):
        rotate(ring, "0000000000000000", str(tmp_path / "none"), "next", T0, timedelta(days=7))
    assert not (tmp_path / "none" / "next.key").exists()


# --- signing keys -------------------------------------------------------------------------


def test_signing_key_from_file_or_environment(key: PrivateKey, tmp_path: Path) -> None:
    key_path, _ = write_keypair(str(tmp_path), "k", key)
    assert load_signing_key(key_path, {}).public_key == key.public_key
    assert load_signing_key(None, {"ATTESTKIT_SIGNING_KEY": key.to_pem(None).decode()}).public_key == key.public_key
    with pytest.raises(UsageError, match="no signing key"):
        load_signing_key(None, {})


def test_a_public_key_given_as_private_is_named_before_the_permission_rule(key: PrivateKey, tmp_path: Path) -> None:
    _, pub_path = write_keypair(str(tmp_path), "k", key)
    os.chmod(pub_path, 0o644)
    with pytest.raises(KeyFormatError, match="is a public key, not a private key") as caught:
        load_private_key_file(pub_path, {})
    assert "chmod" not in str(caught.value) and not isinstance(caught.value, KeyPermissionError)
    # A real private key that others can read is still refused for its mode.
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.to_pem(None))
    os.chmod(loose, 0o644)
    with pytest.raises(KeyPermissionError, match="chmod 600"):
        load_private_key_file(str(loose), {})


def test_signing_key_variable_holding_a_path(key: PrivateKey, tmp_path: Path) -> None:
    key_path, _ = write_keypair(str(tmp_path), "k", key)
    with pytest.raises(KeyFormatError, match="holds a file path, not a key: pass --key PATH") as caught:
        load_private_key_env({"ATTESTKIT_SIGNING_KEY": key_path})
    assert caught.value.code == "key-path-in-env"


def test_encrypted_openssh_key_without_bcrypt_says_so_before_asking_for_a_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written by `ssh-keygen -t ed25519 -N pw-123456` (cipher aes256-ctr, bcrypt KDF).
    path = tmp_path / "id"
    path.write_bytes((FIXTURES / "openssh-encrypted.key").read_bytes())
    path.chmod(0o600)
    expected = load_public_key(str(FIXTURES / "openssh-encrypted.pub"))
    with pytest.raises(KeyFormatError, match="set ATTESTKIT_KEY_PASSPHRASE"):  # bcrypt installed: the passphrase
        load_private_key_file(str(path), {})
    assert load_private_key_file(str(path), {"ATTESTKIT_KEY_PASSPHRASE": "pw-123456"}).public_key == expected
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # as if the bcrypt extra were not installed
    for environ in ({}, {"ATTESTKIT_KEY_PASSPHRASE": "pw-123456"}):
        with pytest.raises(KeyFormatError, match="need the bcrypt package") as caught:
            load_private_key_file(str(path), environ)
        assert "set ATTESTKIT_KEY_PASSPHRASE" not in str(caught.value)


def test_bare_hex_key_suggests_the_prefix(key: PrivateKey) -> None:
    bare = key.public_key.text.removeprefix("ed25519:")
    with pytest.raises(KeyFormatError, match="ed25519:<64 hex>"):
        parse_public_key(bare)
    with pytest.raises(KeyFormatError, match="write it as ed25519:<the 64 hex digits>") as caught:
        load_public_key(bare.upper())
    assert bare not in str(caught.value).lower()  # 64 hex digits may be a private seed: not repeated


def test_a_dsse_envelope_is_not_read_as_a_receipt(tmp_path: Path) -> None:
    envelope = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
    path = tmp_path / "env.json"
    path.write_text(json.dumps(envelope))
    with pytest.raises(MalformedReceiptError, match="is a DSSE envelope") as caught:
        read_receipt_file(str(path))
    assert "timestamp is required" not in str(caught.value) and caught.value.exit_code == 1


# --- the ATTEST API object ----------------------------------------------------------------


def test_attest_api_owns_the_url_layout_and_quotes_ids(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    routes = {
        "/v1/executions/..%2Fx%3Fy/receipt": [Reply(200, {"receipt": receipt})],
        "/v1/pipelines/p%2F1/executions": [Reply(200, {"executions": [{"id": "e1"}, {"id": "e2"}], "has_more": False})],
        "/v1/executions/e1/receipt": [Reply(200, {"receipt": receipt})],
        "/v1/receipts/verify": [Reply(200, {"valid": True})],
    }
    with serve(routes) as server:
        api = AttestApi.of(attest_source(token="t0k3n-value", client=FakeTime().client()), server.base_url + "/")
        assert api.receipt("../x?y") == receipt
        assert list(api.pipeline_receipts("p/1")) == [("e1", receipt), ("e2", None)]  # e2: 404, no receipt yet
        assert api.verdict(receipt) == {"valid": True}
    paths = [path for _, path, _ in server.requests]
    assert paths[0] == "/v1/executions/..%2Fx%3Fy/receipt" and "/v1/receipts/verify" in paths
    assert all(headers["authorization"] == "Bearer t0k3n-value" for _, _, headers in server.requests)


def test_missing_token_is_named_on_401() -> None:
    from attestkit.adapters.source import ReceiptSource

    with serve({"/v1/executions/e/receipt": [Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "no"}})]}) as s:
        source = ReceiptSource.named("attest", client=FakeTime().client(), environ={})
        with pytest.raises(FetchError, match=r"no credentials were sent: \$ATTEST_TOKEN is not set"):
            AttestApi.of(source, s.base_url).receipt("e")


def test_unknown_profile_suggests_the_closest() -> None:
    from attestkit.adapters.source import ReceiptSource

    with pytest.raises(UsageError, match="did you mean 'continuum'"):
        ReceiptSource.named("continuun", environ={})


def test_unresolvable_host_fails_at_once_without_retries() -> None:
    fake = FakeTime()
    with pytest.raises(FetchError, match=r"cannot resolve host no-such-host\.invalid") as caught:
        fake.client().request("GET", "https://no-such-host.invalid/v1/x")
    assert caught.value.code == "dns" and fake.slept == []
    assert "gaierror" not in str(caught.value)


# --- results: the contract JSON -----------------------------------------------------------


def test_could_not_check_json_has_the_contract_shape() -> None:
    line = unchecked_dict("r.json", "not-found", "r.json: receipt not found")
    assert line["valid"] is False and line["chain_of_trust"] == "untrusted"
    assert line["signature_verification"] == {"valid": False, "signer": None, "algorithm": "ed25519"}
    assert line["policy_compliance"]["passed"] is False and line["timestamp_check"]["valid"] is False
    assert line["error"] == {"code": "not-found", "message": "r.json: receipt not found"}
    checks = unchecked_checks("not-found", "gone", ["require-tests"])
    assert [c.name for c in checks] == ["input", "policy:require-tests"] and not any(c.passed for c in checks)


def test_to_json_is_a_json_string_and_to_dict_the_mapping(key: PrivateKey) -> None:
    result = verify_receipt(sign_receipt(make_receipt(), key), trusted_keys=[key.public_key], now=T0)
    text = result.to_json()
    assert isinstance(text, str) and json.loads(text) == result.to_dict()
    assert json.loads(result.to_json(indent=2)) == result.to_dict()
    with pytest.warns(DeprecationWarning, match="use to_dict"):
        assert text["valid"] is True  # the old mapping use, for one release
    assert text[0] == "{"


@given(st.text(max_size=40))
def test_to_json_escapes_control_characters_and_round_trips(source: str) -> None:
    result = VerificationResult(source=source, checks=())
    text = result.to_json()
    assert json.loads(text)["receipt"] == source
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


# --- bulk: jobs heuristic and summary -----------------------------------------------------


def test_default_jobs() -> None:
    assert default_jobs(1, walks_directories=False, reads_streams=False) == 1
    assert default_jobs(SMALL_RUN, walks_directories=False, reads_streams=False) == 1
    assert default_jobs(SMALL_RUN + 1, walks_directories=False, reads_streams=False) is None
    assert default_jobs(1, walks_directories=True, reads_streams=False) is None
    assert default_jobs(0, walks_directories=False, reads_streams=True) is None


def test_tally_names_failure_classes_with_counts(key: PrivateKey, other_key: PrivateKey) -> None:
    good = verify_receipt(sign_receipt(make_receipt(), key), trusted_keys=[key.public_key], now=T0)
    stranger = verify_receipt(sign_receipt(make_receipt(), other_key), trusted_keys=[key.public_key], now=T0)
    tally = Tally()
    for outcome in (
        BulkOutcome("a", good, valid=True),
        BulkOutcome("b", stranger, valid=False),
        BulkOutcome("c", None, None, False, "text", ("untrusted-key",)),  # rendered in a worker
        BulkOutcome("d", error=AttestkitError("gone", code="not-found")),
    ):
        tally.add(outcome)
    assert tally.summary() == "1 valid, 2 invalid, 1 errors; failures: untrusted-key 2, not-found 1"
    assert tally.exit_code == 2


def test_format_table_never_overflows() -> None:
    rows = [("NAME", "STATUS", "MESSAGE"), ("policy:steps-succeeded-for-real", "ok", "policy satisfied")]
    lines = format_table(rows).splitlines()
    assert lines[1].index("ok") > len("policy:steps-succeeded-for-real")
    assert lines[0].index("STATUS") == lines[1].index("ok") and lines[0].index("MESSAGE") == lines[1].index(
        "policy satisfied"
    )


def test_now_constant_is_what_the_tests_pin() -> None:
    assert INSTANT.convert(NOW, None, None) == T0


# --- the dev install and make help ----------------------------------------------------------


def test_make_installs_in_compat_editable_mode_and_lists_its_targets() -> None:
    from tests.conftest import ROOT

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "pip install" in line and " -e " in line]
    assert installs and all("$(EDITABLE)" in line for line in installs)
    assert "EDITABLE := --config-settings editable_mode=compat" in makefile  # mypy sees py.typed through a path
    import subprocess

    listed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    targets = {line.split()[0] for line in listed.splitlines()[1:]}
    assert {"help", "demo", "test", "vectors", "bench", "clean"} <= targets


def test_retries_are_announced_before_each_wait(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    path = "/v1/executions/e1/receipt"
    replies = [Reply(503, {"error": {"code": "UNAVAILABLE", "message": "busy"}}), Reply(429, headers={"Retry-After": "2"}),
               Reply(200, {"receipt": receipt})]  # fmt: skip
    fake, notices = FakeTime(), []
    with serve({path: replies}) as server:
        client = fake.client(notify=notices.append)
        api = AttestApi.of(attest_source(token="t0k3n-value", client=client), server.base_url)
        assert api.receipt("e1") == receipt
    assert len(notices) == 2 and fake.slept[1] == 2.0
    assert notices[0].startswith("127.0.0.1: HTTP 503; retrying in ") and notices[0].endswith("(attempt 2 of 4)")
    assert notices[1] == "127.0.0.1: HTTP 429; retrying in 2.0s (attempt 3 of 4)"
    assert all("t0k3n" not in n for n in notices)
