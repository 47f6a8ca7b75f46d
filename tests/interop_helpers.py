"""Helpers shared by the interop tests (tests/test_interop_*.py): DSSE envelopes taken apart and
re-signed the way a peer tool would, key files a peer can load, and options that trust a key."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from attestkit import verify_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.dsse import PAYLOAD_TYPE, pae
from attestkit.core.timeutil import parse_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.verifier import VerifyOptions
from tests.conftest import NOW

NOW_DT = parse_rfc3339(NOW)


def trusting(key: PrivateKey) -> VerifyOptions:
    """Options that trust *key* alone, at the tests' fixed time."""
    return VerifyOptions(trusted=TrustStore.of([key.public_key]), now=NOW_DT)


def statement_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """The in-toto statement a DSSE envelope carries."""
    value: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return value


def resigned(statement: dict[str, Any], key: PrivateKey, raw: bytes | None = None) -> dict[str, Any]:
    """A DSSE envelope around *statement* (or the exact bytes *raw*), signed by *key* as a peer would."""
    payload = raw if raw is not None else json.dumps(statement).encode()
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode()}],
    }


def first_failure(statement: dict[str, Any], key: PrivateKey) -> str:
    """The first failed check's message for *statement* re-signed by *key* (it must not verify)."""
    result = verify_receipt(resigned(statement, key), trusted_keys=[key.public_key], now=NOW_DT)
    assert not result.valid
    return result.failed_checks[0].message


def write_key_files(tmp_path: Path, key: PrivateKey) -> tuple[Path, Path]:
    """*key* as PEM files a peer loads: ``signer.pem`` (0600) and ``signer.pub.pem``."""
    private = tmp_path / "signer.pem"
    private.write_bytes(key.to_pem())
    private.chmod(0o600)
    public = tmp_path / "signer.pub.pem"
    public.write_bytes(key.public_key.to_pem())
    return private, public
