"""attestkit: sign and verify pipeline-execution receipts, offline.

The public API is listed in ``__all__``. Names are imported lazily so that
``import attestkit`` stays cheap (no click, YAML, Rego, HTTP or hashing modules).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from attestkit._version import __version__
from attestkit.errors import (
    ArgumentTypeError,
    ArtifactError,
    AttestkitError,
    CanonicalizationError,
    CouldNotCheckError,
    FetchError,
    HashingError,
    InputFileError,
    InvalidError,
    KeyFormatError,
    KeyPermissionError,
    MalformedReceiptError,
    PolicyError,
    TrustStoreError,
    UsageError,
    WebhookHeaderError,
    WebhookInputTypeError,
    WebhookReplayError,
    WebhookSecretError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)

_LAZY: dict[str, str] = {
    "canonicalize": "attestkit.core.crypto.canonical",
    "Receipt": "attestkit.core.receipt.reader",
    "parse_receipt": "attestkit.core.receipt.reader",
    "receipt_from_mapping": "attestkit.core.receipt.reader",
    "PublicKey": "attestkit.core.crypto.keys",
    "PrivateKey": "attestkit.core.crypto.keys",
    "parse_public_key": "attestkit.core.crypto.keys",
    "parse_private_key": "attestkit.core.crypto.keys",
    "sign_receipt": "attestkit.core.receipt.signing",
    "verify_receipt": "attestkit.core.verify.verifier",
    "VerifyOptions": "attestkit.core.verify.verifier",
    "Verifier": "attestkit.core.verify.api",
    "verify_with_options": "attestkit.core.verify.verifier",
    "VerificationResult": "attestkit.core.verify.result",
    "Check": "attestkit.core.verify.result",
    "TrustStore": "attestkit.core.trust.store",
    "TrustedKey": "attestkit.core.trust.store",
    "parse_trusted_keys": "attestkit.core.trust.keyring",
    "Policy": "attestkit.core.policy.base",
    "PolicyContext": "attestkit.core.policy.base",
    "Violation": "attestkit.core.policy.base",
    "builtin_policy": "attestkit.core.policy.builtin",
    "load_policy_text": "attestkit.core.policy.loader",
    "hash_file": "attestkit.core.crypto.digest",
    "hash_tree": "attestkit.core.crypto.digest",
    "hash_path": "attestkit.core.crypto.digest",
    "tree_manifest": "attestkit.core.crypto.digest",
    "ManifestEntry": "attestkit.core.crypto.digest",
    "verify_webhook": "attestkit.core.webhooks",
    "sign_webhook": "attestkit.core.webhooks",
    "WebhookEvent": "attestkit.core.webhooks",
    "ExecutionCompleted": "attestkit.core.webhooks",
    "ExecutionFailed": "attestkit.core.webhooks",
    "ReceiptSigned": "attestkit.core.webhooks",
    "MemoryReplayGuard": "attestkit.core.webhooks",
    "WebhookVerifier": "attestkit.core.webhooks",
    "load_private_key_file": "attestkit.adapters.files",
    "load_public_key": "attestkit.adapters.files",
    "load_trusted_keys_file": "attestkit.adapters.files",
    "read_receipt_file": "attestkit.adapters.files",
    "fetch_receipt_document": "attestkit.adapters.attest",
}

__all__ = [
    "ArgumentTypeError",
    "ArtifactError",
    "AttestkitError",
    "CanonicalizationError",
    "Check",
    "CouldNotCheckError",
    "ExecutionCompleted",
    "ExecutionFailed",
    "FetchError",
    "HashingError",
    "InputFileError",
    "InvalidError",
    "KeyFormatError",
    "KeyPermissionError",
    "MalformedReceiptError",
    "ManifestEntry",
    "MemoryReplayGuard",
    "Policy",
    "PolicyContext",
    "PolicyError",
    "PrivateKey",
    "PublicKey",
    "Receipt",
    "ReceiptSigned",
    "TrustStore",
    "TrustStoreError",
    "TrustedKey",
    "UsageError",
    "VerificationResult",
    "Verifier",
    "VerifyOptions",
    "Violation",
    "WebhookEvent",
    "WebhookHeaderError",
    "WebhookInputTypeError",
    "WebhookReplayError",
    "WebhookSecretError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "WebhookVerifier",
    "__version__",
    "builtin_policy",
    "canonicalize",
    "fetch_receipt_document",
    "hash_file",
    "hash_path",
    "hash_tree",
    "load_policy_text",
    "load_private_key_file",
    "load_public_key",
    "load_trusted_keys_file",
    "parse_private_key",
    "parse_public_key",
    "parse_receipt",
    "parse_trusted_keys",
    "read_receipt_file",
    "receipt_from_mapping",
    "sign_receipt",
    "sign_webhook",
    "tree_manifest",
    "verify_receipt",
    "verify_webhook",
    "verify_with_options",
]

if TYPE_CHECKING:
    from attestkit.adapters.attest import fetch_receipt_document
    from attestkit.adapters.files import (
        load_private_key_file,
        load_public_key,
        load_trusted_keys_file,
        read_receipt_file,
    )
    from attestkit.core.crypto.canonical import canonicalize
    from attestkit.core.crypto.digest import ManifestEntry, hash_file, hash_path, hash_tree, tree_manifest
    from attestkit.core.crypto.keys import PrivateKey, PublicKey, parse_private_key, parse_public_key
    from attestkit.core.policy.base import Policy, PolicyContext, Violation
    from attestkit.core.policy.builtin import builtin_policy
    from attestkit.core.policy.loader import load_policy_text
    from attestkit.core.receipt.reader import Receipt, parse_receipt, receipt_from_mapping
    from attestkit.core.receipt.signing import sign_receipt
    from attestkit.core.trust.keyring import parse_trusted_keys
    from attestkit.core.trust.store import TrustedKey, TrustStore
    from attestkit.core.verify.api import Verifier
    from attestkit.core.verify.result import Check, VerificationResult
    from attestkit.core.verify.verifier import VerifyOptions, verify_receipt, verify_with_options
    from attestkit.core.webhooks import (
        ExecutionCompleted,
        ExecutionFailed,
        MemoryReplayGuard,
        ReceiptSigned,
        WebhookEvent,
        WebhookVerifier,
        sign_webhook,
        verify_webhook,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attestkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
