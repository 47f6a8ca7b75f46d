"""Official Ed25519 vectors through attestkit's verification path.

Deliberate rejections: attestkit refuses public keys that are not canonical encodings of
points in the prime-order subgroup (small-order and mixed-order keys) and signatures
with S >= L. Wycheproof marks every such case "invalid", so no valid vector is rejected
on purpose; the test below asserts exactly that.
"""

from __future__ import annotations

import json

from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.errors import KeyFormatError
from tests.conftest import external, load_json


def _verify(pk_hex: str, msg: bytes, sig: bytes) -> bool:
    try:
        key = PublicKey.from_raw(bytes.fromhex(pk_hex))
    except KeyFormatError:
        return False
    return key.verify(msg, sig)


def test_wycheproof_ed25519() -> None:
    data = load_json(external("wycheproof/ed25519_test.json"))
    total = rejected_valid = 0
    for group in data["testGroups"]:
        for test in group["tests"]:
            total += 1
            ok = _verify(group["publicKey"]["pk"], bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
            if test["result"] == "valid":
                rejected_valid += not ok
            else:
                assert not ok, f"tcId {test['tcId']} ({test['comment']}) should be rejected"
    assert total == 151
    assert rejected_valid == 0


def test_rfc8032_section_7_1() -> None:
    data = load_json(external("rfc8032/ed25519_rfc8032_section7.1.json"))
    for test in data["tests"]:
        key = PrivateKey.from_seed(bytes.fromhex(test["secret_key"]))
        assert key.public_key.raw.hex() == test["public_key"]
        message = bytes.fromhex(test["message"])
        assert key.sign(message).hex() == test["signature"]
        assert key.public_key.verify(message, bytes.fromhex(test["signature"]))


def test_djb_sign_input() -> None:
    lines = external("ed25519-djb/sign.input").read_text().splitlines()
    assert len(lines) == 1024
    for line in lines[::8]:  # every 8th line keeps the suite fast; all 1024 were cross-checked upstream
        sk, pk, msg, sig, _ = line.split(":")
        key = PrivateKey.from_seed(bytes.fromhex(sk[:64]))
        assert key.public_key.raw.hex() == pk
        assert key.sign(bytes.fromhex(msg)).hex() == sig[:128]


def test_cctv_edge_cases_reject_non_canonical_and_low_order() -> None:
    vectors = json.loads(external("cctv-ed25519/ed25519vectors.json").read_text())
    for vector in vectors:
        flags = set(vector["flags"] or [])
        ok = _verify(vector["key"], vector["msg"].encode(), bytes.fromhex(vector["sig"]))
        if flags & {"non_canonical_A", "non_canonical_R", "low_order_A", "low_order_component_A"}:
            assert not ok, vector["number"]
