"""Verifying one receipt: format, signature, trust, timestamp, policies, artifacts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from attestkit.core import result as R
from attestkit.core.keys import PublicKey
from attestkit.core.policy.base import Policy, PolicyContext, Violation
from attestkit.core.reader import Receipt, parse_document, receipt_from_mapping
from attestkit.core.signing import SignatureOutcome, check_signature
from attestkit.core.timeutil import human_duration, parse_rfc3339, utc_now
from attestkit.core.trust import TrustedKey, TrustStore
from attestkit.core.trust_chain import TrustDecision, decide_receipt_trust
from attestkit.errors import AttestkitError, HashingError, MalformedReceiptError, UsageError

DEFAULT_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class VerifyOptions:
    """Everything that configures verification; picklable for bulk and remote use."""

    trusted: TrustStore = field(default_factory=TrustStore)
    now: datetime | None = None
    tolerance: timedelta = DEFAULT_TOLERANCE
    integrity_only: bool = False
    policies: tuple[Policy, ...] = ()
    artifacts_dir: str | None = None
    check_inputs: bool = False
    pipeline_file: str | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        if not self.integrity_only and len(self.trusted) == 0:
            raise UsageError("no trusted key given: pass trusted keys, or use integrity-only checking")


def _trust(
    key: PublicKey, data: Mapping[str, Any], timestamp: datetime, options: VerifyOptions, claimed: str | None
) -> TrustDecision:
    return decide_receipt_trust(key, options.trusted, data, timestamp, scope=options.scope, claimed_signer=claimed)


def _nothing_to_trust(store: TrustStore) -> bool:
    return len(store) == 0 and not store.delegations


def _integrity_suffices(decision: TrustDecision, key: PublicKey, store: TrustStore) -> bool:
    """Whether integrity-only checking may accept a key the trust store does not establish.

    Never against the store's own word: a revocation anywhere on the path, or any problem with
    an entry for this very key (expired, out of scope, another identity), still fails.
    """
    return not decision.trusted and decision.status != R.CHAIN_REVOKED and store.lookup(key) is None


def malformed_result(source: str, error: MalformedReceiptError, options: VerifyOptions) -> R.VerificationResult:
    """The result for a receipt that failed strict reading: nothing else was checked, and it says so."""
    reason = "the receipt is malformed"
    names = [p.name for p in options.policies]
    return R.VerificationResult(
        source=source,
        valid=False,
        checks=(R.Check("format", False, error.code, str(error)), *R.policies_not_evaluated(names, reason)),
        violations=tuple(Violation(name, f"not evaluated: {reason}") for name in names),
        policies_evaluated=False,
        policies_reason=reason,
    )


def verify_parsed(receipt: Receipt, options: VerifyOptions) -> R.VerificationResult:
    """Verify a :class:`Receipt`: its data is read again, strictly, before anything is checked.

    Nothing a caller can build or change in a ``Receipt`` (a ``dataclasses.replace`` copy, a
    ``data`` edited in place) is taken on trust: the signing input and the timestamp come from
    ``data`` itself.
    """
    return verify_with_options(receipt, options)


def _verify_read(
    receipt: Receipt, options: VerifyOptions, signature: SignatureOutcome | None = None
) -> R.VerificationResult:
    """Verify a receipt this module just read (its signing input is fresh).

    *signature* is supplied when the proof is not the receipt's own (a DSSE envelope).
    """
    data = receipt.data
    checks: list[R.Check] = [R.Check("format", True, "ok", "well-formed receipt")]
    if signature is None:
        signature = check_signature(receipt, options.trusted.known_key)
    sig_ok, key = signature.valid, signature.key
    checks.append(R.Check("signature", sig_ok, signature.code, signature.message))
    claimed = data.get("signer") if signature.claims_bound else None  # a claim only its signing key made
    claimed_signer = claimed if isinstance(claimed, str) else None
    timestamp = receipt.timestamp or parse_rfc3339(data["timestamp"])
    now = options.now or utc_now()

    decision: TrustDecision | None = None
    if key is not None and sig_ok and options.integrity_only and _nothing_to_trust(options.trusted):
        # No trust store: the receipt's own delegations cannot establish anything, so they are
        # not even read (a bad or cyclic one must not turn an intact receipt invalid).
        checks.append(
            R.Check("trust", True, "integrity-only", "integrity only: signer key not checked against a trust store")
        )
        trusted_ok = True
        chain = R.CHAIN_UNTRUSTED
    elif key is not None and sig_ok:
        decision = _trust(key, data, timestamp, options, claimed_signer)
        trust_check = R.Check("trust", decision.trusted, decision.code, decision.message)
        chain = decision.status
        if options.integrity_only and _integrity_suffices(decision, key, options.trusted):
            trust_check = R.Check(
                "trust", True, "integrity-only", f"integrity only: trust not established ({decision.message})"
            )
            chain = R.CHAIN_UNTRUSTED
        checks.append(trust_check)
        trusted_ok = trust_check.passed
    else:
        checks.append(R.Check("trust", False, "not-checked", "trust not established: signature did not verify"))
        trusted_ok = False
        chain = R.CHAIN_UNTRUSTED
    identity = decision.identity if decision is not None and decision.trusted else None
    signer = identity or claimed_signer

    age = now - timestamp
    ts_ok = age >= -options.tolerance
    if ts_ok:
        ts_message = (
            f"{data['timestamp']} ({human_duration(age)} ago)"
            if age >= timedelta(0)
            else f"{data['timestamp']} (within clock tolerance)"
        )
    else:
        ts_message = f"timestamp {data['timestamp']} is {human_duration(-age)} in the future (tolerance {human_duration(options.tolerance)})"
    checks.append(R.Check("timestamp", ts_ok, "ok" if ts_ok else "future", ts_message))

    violations: list[Violation] = []
    if options.policies:
        context = PolicyContext(
            receipt=data,
            signature_verified=sig_ok,
            signer=signer,
            public_key=key.text if key is not None else None,
            now=now,
            timestamp=timestamp,
            trusted_identity=identity,
        )
        for policy in options.policies:
            found = policy.evaluate(context)
            violations.extend(found)
            if not found:
                checks.append(R.Check(f"policy:{policy.name}", True, "ok", "policy satisfied"))
            for violation in found:
                checks.append(R.Check(f"policy:{violation.policy}", False, "violation", violation.message))

    if options.pipeline_file is not None:
        from attestkit.core.artifacts import check_pipeline

        pipeline_finding = check_pipeline(data, options.pipeline_file)
        if pipeline_finding is None:
            checks.append(R.Check("pipeline", True, "ok", f"{options.pipeline_file} matches pipeline_hash"))
        else:
            checks.append(
                R.Check("pipeline", False, pipeline_finding.code, pipeline_finding.message, options.pipeline_file)
            )
    if options.artifacts_dir is not None:
        from attestkit.core.artifacts import check_artifacts

        findings = check_artifacts(data, options.artifacts_dir, check_inputs=options.check_inputs)
        for finding in findings:
            checks.append(R.Check("artifacts", False, finding.code, finding.message, finding.path))
        if not findings:
            what = "outputs and inputs" if options.check_inputs else "outputs"
            checks.append(R.Check("artifacts", True, "ok", f"all recorded {what} match {options.artifacts_dir}"))

    valid = all(c.passed for c in checks) and trusted_ok
    return R.VerificationResult(
        source=receipt.source,
        valid=valid,
        checks=tuple(checks),
        signature_valid=sig_ok,
        signer=signer,
        public_key=key.text if key is not None else None,
        key_id=key.key_id if key is not None else None,
        chain_of_trust=chain,
        timestamp_valid=ts_ok,
        age_hours=age.total_seconds() / 3600.0,
        violations=tuple(violations),
        chain=decision.chain if decision is not None else (),
    )


def verify_with_options(
    receipt: Receipt | Mapping[str, Any] | bytes, options: VerifyOptions, *, source: str | None = None
) -> R.VerificationResult:
    """Verify a receipt given as parsed :class:`Receipt`, mapping or raw bytes."""
    name = source or (receipt.source if isinstance(receipt, Receipt) else "<receipt>")
    if isinstance(receipt, Receipt):
        receipt = receipt.data  # only the data is taken from a Receipt: it is read again below
    try:
        if isinstance(receipt, (bytes, bytearray, memoryview)):
            return verify_document(parse_document(bytes(receipt), source=name), options, source=name)
        return verify_document(receipt, options, source=name)
    except MalformedReceiptError as exc:
        return malformed_result(name, exc, options)


def verify_document(document: Any, options: VerifyOptions, *, source: str) -> R.VerificationResult:
    """Verify a parsed document: a receipt, or a DSSE envelope around one."""
    from attestkit.core.dsse import is_envelope

    try:
        if is_envelope(document):
            return _verify_envelope(document, options, source)
        return _verify_read(receipt_from_mapping(document, source=source), options)
    except MalformedReceiptError as exc:
        return malformed_result(source, exc, options)


def _verify_envelope(document: Mapping[str, Any], options: VerifyOptions, source: str) -> R.VerificationResult:
    """An envelope is valid when a trusted key signed it *and* the receipt inside is intact.

    The receipt's own signature must verify against its ``signer_public_key`` (an envelope
    around a tampered or unsigned receipt is refused, whoever signed the envelope). Its
    ``signer`` claim counts only when that key is also the envelope's signer; otherwise the
    identity reported is the envelope key's, as the trust store establishes it, or none.
    """
    from attestkit.core.dsse import find_signer, open_envelope
    from attestkit.core.signing import embedded_public_key

    receipt, signed_bytes, signatures = open_envelope(document, source)
    try:
        embedded: PublicKey | None = embedded_public_key(receipt.data, options.trusted.known_key)
    except AttestkitError:
        embedded = None
    # The receipt's own key first: the usual exporter, and the only one integrity-only can use.
    keys = [] if embedded is None else [embedded]
    keys.extend(entry.public_key for entry in options.trusted.keys if entry.public_key != embedded)
    search = find_signer(signed_bytes, signatures, keys)
    key = search.key
    if key is None:
        outcome = SignatureOutcome(False, "bad-signature", "no DSSE signature verifies with a trusted or embedded key")
        if search.exhausted:
            outcome = SignatureOutcome(
                False,
                "signature-budget",
                f"no DSSE signature verified within the budget of {search.attempts} checks per envelope",
            )
        return _verify_read(receipt, options, outcome)
    inner = check_signature(receipt, options.trusted.known_key)
    if not inner.valid:
        outcome = SignatureOutcome(
            False, "inner-signature", f"DSSE envelope signed by {key.text}, but the receipt inside: {inner.message}", key
        )
    elif key == inner.key:
        outcome = SignatureOutcome(True, "ok", f"DSSE envelope signed by {key.text} (key id {key.key_id})", key)
    else:
        outcome = SignatureOutcome(
            True,
            "ok",
            f"DSSE envelope signed by {key.text} (key id {key.key_id}) around a receipt signed by "
            f"{receipt.data['signer_public_key']}: the receipt's signer claim is ignored",
            key,
            claims_bound=False,
        )
    return _verify_read(receipt, options, outcome)


def verify_receipt(
    receipt: Receipt | Mapping[str, Any] | bytes,
    *,
    trusted_keys: TrustStore | Iterable[PublicKey | TrustedKey | str] = (),
    now: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    integrity_only: bool = False,
    policies: Sequence[Policy] = (),
    artifacts_dir: str | None = None,
    check_inputs: bool = False,
    pipeline_file: str | None = None,
    scope: str | None = None,
    source: str | None = None,
) -> R.VerificationResult:
    """Verify one receipt. An invalid receipt is a result; "could not check" raises.

    Raises :class:`UsageError` when no trusted key is given (unless *integrity_only*),
    and :class:`HashingError` when the pipeline file cannot be read.
    """
    store = trusted_keys if isinstance(trusted_keys, TrustStore) else TrustStore.of(trusted_keys)
    options = VerifyOptions(
        trusted=store,
        now=now,
        tolerance=tolerance,
        integrity_only=integrity_only,
        policies=tuple(policies),
        artifacts_dir=artifacts_dir,
        check_inputs=check_inputs,
        pipeline_file=pipeline_file,
        scope=scope,
    )
    return verify_with_options(receipt, options, source=source)


__all__ = [
    "DEFAULT_TOLERANCE",
    "HashingError",
    "VerifyOptions",
    "malformed_result",
    "verify_parsed",
    "verify_receipt",
    "verify_with_options",
]
