"""A signed verdict: SLSA Verification Summary Attestation v1 for one ``verify`` run, and its check.

``verify --summary-out FILE --key KEY`` writes one when every receipt was actually checked:

* ``subject``: what was verified — the recorded outputs of the receipts (``blake3``, and
  ``sha256`` when ``--artifacts`` was given, hashed as ``export`` does), or the receipt files
  themselves when they record no outputs;
* ``predicate``: ``verifier.id``, ``timeVerified``, ``resourceUri``, ``policy`` (see
  :func:`policy_descriptor`), ``inputAttestations`` (every receipt file by sha256 and
  blake3 of its bytes), ``verificationResult`` ``PASSED`` (all valid) or ``FAILED``,
  ``verifiedLevels`` (:data:`VERIFIED_LEVEL` when passed) and ``slsaVersion``.

:func:`check_summary` is the later stage's side: the summary must be signed by one of the
verifier's keys, say ``PASSED``, name the verifier id asked for, cover every receipt given
(by digest, wherever the files now live) and, when policies are given, name the same policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.keys import PrivateKey, PublicKey
from attestkit.core.intoto.predicates import protobuf_time
from attestkit.core.intoto.statement import STATEMENT_TYPE, statement, subject_list
from attestkit.core.timeutil import human_duration, parse_rfc3339
from attestkit.errors import MalformedReceiptError

VSA_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIED_LEVEL = "ATTESTKIT_RECEIPT_VERIFIED"  # a custom level (the spec reserves only SLSA_*)
DEFAULT_MAX_AGE = timedelta(hours=24)  # a verdict is about the receipts as they were judged then
NO_POLICY_URI = "https://attestkit.dev/policy/none"
POLICY_SET_URI = "https://attestkit.dev/policy-set/v1"


def digests_of(data: bytes) -> dict[str, str]:
    """``{"sha256", "blake3"}`` hex digests of *data*."""
    from blake3 import blake3

    return {"sha256": hashlib.sha256(data).hexdigest(), "blake3": blake3(data).hexdigest()}


@dataclass(frozen=True)
class PolicyRef:
    """A policy the run applied: a built-in by name (no bytes) or a file as given, with its bytes."""

    name: str
    data: bytes | None = field(default=None, repr=False)


def policy_descriptor(policies: Sequence[PolicyRef]) -> dict[str, Any]:
    """The VSA ``policy``: one resource descriptor for every policy the run applied.

    One policy file and nothing else: that file (``uri`` the path as given, digests of its
    bytes), so ``sha256sum policy.rego`` matches. Otherwise ``uri`` is :data:`POLICY_SET_URI`
    and the digests are of the RFC 8785 text of the list, in the order given, of
    ``{"name": NAME}`` for a built-in policy and ``{"name": PATH, "sha256": HEX, "blake3": HEX}``
    for a file. No policy at all: ``uri`` :data:`NO_POLICY_URI`, digests of ``[]``.
    """
    if len(policies) == 1 and policies[0].data is not None:
        return {"uri": policies[0].name, "digest": digests_of(policies[0].data)}
    listed = [{"name": p.name, **(digests_of(p.data) if p.data is not None else {})} for p in policies]
    return {"uri": POLICY_SET_URI if policies else NO_POLICY_URI, "digest": digests_of(canonicalize(listed))}


@dataclass(frozen=True)
class JudgedReceipt:
    """One receipt the run judged: its label, the digests of its bytes, and the subjects it names."""

    label: str
    digest: Mapping[str, str]
    subjects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def summary_statement(
    receipts: Sequence[JudgedReceipt],
    policies: Sequence[PolicyRef],
    *,
    passed: bool,
    verifier_id: str,
    time_verified: datetime,
    resource_uri: str | None = None,
) -> dict[str, Any]:
    """The in-toto statement of a VSA v1 for *receipts* judged under *policies*."""
    named: dict[str, Mapping[str, str]] = {}
    for receipt in receipts:
        for name, digest in receipt.subjects.items():
            named.setdefault(name, digest)
    if not named:
        named = {r.label: r.digest for r in receipts}
    predicate = {
        "verifier": {"id": verifier_id},
        "timeVerified": protobuf_time(time_verified),
        "resourceUri": resource_uri or (receipts[0].label if len(receipts) == 1 else "attestkit:receipts"),
        "policy": policy_descriptor(policies),
        "inputAttestations": [{"uri": r.label, "digest": dict(r.digest)} for r in receipts],
        "verificationResult": "PASSED" if passed else "FAILED",
        "verifiedLevels": [VERIFIED_LEVEL] if passed else [],
        "slsaVersion": "1.0",
    }
    return statement(subject_list(named), VSA_TYPE, predicate)


def sign_summary(document: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]:
    """The DSSE envelope of a summary statement."""
    from attestkit.core.receipt.envelope import sign_statement

    return sign_statement(document, key)


@dataclass(frozen=True)
class SummaryCheck:
    """What :func:`check_summary` found: ``valid`` only when ``problems`` is empty."""

    valid: bool
    problems: tuple[str, ...]
    verifier_id: str | None = None
    time_verified: str | None = None
    verification_result: str | None = None
    signed_by: PublicKey | None = None
    covered: tuple[str, ...] = ()

    def to_json(self, source: str) -> dict[str, Any]:
        """The ``--json`` line for this check."""
        return {
            "summary": source,
            "valid": self.valid,
            "verifier": self.verifier_id,
            "time_verified": self.time_verified,
            "verification_result": self.verification_result,
            "signed_by": self.signed_by.text if self.signed_by is not None else None,
            "receipts": list(self.covered),
            "problems": list(self.problems),
        }


def _predicate(document: Any, source: str) -> tuple[dict[str, Any], bytes, list[tuple[str | None, bytes]]]:
    from attestkit.core.receipt.envelope import PAYLOAD_TYPE, b64_field, envelope_signatures, is_envelope, pae
    from attestkit.core.receipt.reader import parse_document

    if not is_envelope(document) or document.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedReceiptError(f"not a DSSE envelope of {PAYLOAD_TYPE}", source=source, code="vsa")
    signatures = envelope_signatures(document.get("signatures"), source)
    payload = b64_field(document.get("payload"), "payload", source)
    parsed = parse_document(payload, source=f"{source} (payload)", fmt="json")
    if not isinstance(parsed, Mapping) or parsed.get("_type") != STATEMENT_TYPE:
        raise MalformedReceiptError("payload is not an in-toto Statement v1", source=source, code="vsa")
    if parsed.get("predicateType") != VSA_TYPE:
        raise MalformedReceiptError(f"predicateType is not {VSA_TYPE}", source=source, code="vsa")
    predicate = parsed.get("predicate")
    if not isinstance(predicate, dict):
        raise MalformedReceiptError("the summary's predicate is not an object", source=source, code="vsa")
    return predicate, pae(PAYLOAD_TYPE, payload), signatures


def _text(mapping: Any, key: str) -> str | None:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, str) else None


def _digest_matches(claimed: Any, actual: Mapping[str, str]) -> bool:
    """Every algorithm both sides know agrees, and at least one is shared."""
    if not isinstance(claimed, Mapping):
        return False
    shared = [name for name in actual if isinstance(claimed.get(name), str)]
    return bool(shared) and all(str(claimed[name]).lower() == actual[name] for name in shared)


def check_summary(
    document: Any,
    keys: Sequence[PublicKey],
    *,
    source: str,
    receipts: Sequence[tuple[str, bytes]] = (),
    policies: Sequence[PolicyRef] | None = None,
    verifier_id: str | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
) -> SummaryCheck:
    """Check a VSA envelope against the verifier's *keys* (see the module docstring).

    *receipts* are ``(label, bytes)`` that must each be among its input attestations (a
    summary vouches for nothing when none is given); *policies*, when given, must be the
    policy it names; *now*, when given, must not be before ``timeVerified`` nor more than
    *max_age* after it (``None``: no age limit), since time-dependent policies such as
    ``max-age-24h`` were judged at ``timeVerified``. ``verifiedLevels`` must hold
    :data:`VERIFIED_LEVEL`. Raises :class:`MalformedReceiptError` for a document that is not
    a VSA envelope at all.
    """
    # Long by design: one problem per rule of the module docstring, collected in its order.
    from attestkit.core.receipt.envelope import find_signer

    predicate, signed, signatures = _predicate(document, source)
    problems: list[str] = []
    search = find_signer(signed, signatures, keys)
    if search.key is None:
        problems.append("no signature on the summary verifies with the verifier's key")
    found_id = _text(predicate.get("verifier"), "id")
    if verifier_id is not None and found_id != verifier_id:
        problems.append(f"verifier id is {found_id!r}, not {verifier_id!r}")
    result = _text(predicate, "verificationResult")
    if result != "PASSED":
        problems.append(f"verificationResult is {result!r}, not 'PASSED'")
    when = _text(predicate, "timeVerified")
    try:
        moment = parse_rfc3339(when) if when is not None else None
    except ValueError:
        moment = None
    if moment is None:
        problems.append("timeVerified is missing or not RFC 3339")
    elif now is not None and moment > now:
        problems.append(f"timeVerified {when} is in the future")
    elif now is not None and max_age is not None and now - moment > max_age:
        problems.append(f"timeVerified {when} is older than the {human_duration(max_age)} a summary is trusted for")
    levels = predicate.get("verifiedLevels")
    if not isinstance(levels, list) or VERIFIED_LEVEL not in levels:
        problems.append(f"verifiedLevels does not include {VERIFIED_LEVEL}")
    if not receipts:
        problems.append("no receipt was given for the summary to vouch for")
    inputs = predicate.get("inputAttestations")
    inputs = inputs if isinstance(inputs, list) else []
    covered: list[str] = []
    for label, data in receipts:
        actual = digests_of(data)
        if any(
            _digest_matches(entry.get("digest") if isinstance(entry, Mapping) else None, actual) for entry in inputs
        ):
            covered.append(label)
        else:
            problems.append(f"{label} is not among the receipts the summary covers (by digest)")
    if policies is not None:
        expected = policy_descriptor(policies)
        named = predicate.get("policy")
        if not _digest_matches(named.get("digest") if isinstance(named, Mapping) else None, expected["digest"]):
            problems.append(f"the summary's policy is not the one given ({expected['uri']})")
    return SummaryCheck(
        valid=not problems,
        problems=tuple(problems),
        verifier_id=found_id,
        time_verified=when,
        verification_result=result,
        signed_by=search.key,
        covered=tuple(covered),
    )


__all__ = [
    "DEFAULT_MAX_AGE",
    "NO_POLICY_URI",
    "POLICY_SET_URI",
    "VERIFIED_LEVEL",
    "VSA_TYPE",
    "JudgedReceipt",
    "PolicyRef",
    "SummaryCheck",
    "check_summary",
    "digests_of",
    "policy_descriptor",
    "sign_summary",
    "summary_statement",
]
