"""Verifying one receipt: format, signature, trust, timestamp, policies, artifacts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from attestkit.core.crypto.keys import PublicKey
from attestkit.core.policy.base import Policy, PolicyContext, Violation
from attestkit.core.receipt.reader import Receipt, parse_document, read_receipt_fast, receipt_from_mapping
from attestkit.core.receipt.signing import SignatureOutcome, check_signature
from attestkit.core.timeutil import human_duration, parse_rfc3339, utc_now
from attestkit.core.trust.chain import ChainStatus, TrustDecision, decide_receipt_trust
from attestkit.core.trust.store import WITNESSED_AT, TrustedKey, TrustStore
from attestkit.core.verify import result as R
from attestkit.errors import ArgumentTypeError, AttestkitError, HashingError, MalformedReceiptError, UsageError

if TYPE_CHECKING:
    from attestkit.core.tlog.policy import Policy as TlogPolicy
    from attestkit.core.tlog.transparency import Transparency

DEFAULT_TOLERANCE = timedelta(minutes=5)
MAX_TOLERANCE = timedelta(days=366)  # clock skew, not a way to accept any future date


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
    log_proofs: tuple[bytes, ...] = ()  # .tlog-proof files; the one proving the receipt is used
    log_policy: TlogPolicy | None = None
    require_log: bool = False

    def __post_init__(self) -> None:
        from attestkit.core import arguments as A

        # Wrong types fail here, with what was expected, not deep inside a check.
        object.__setattr__(self, "trusted", A.trusted_keys_argument(self.trusted, "trusted"))
        A.instant_argument(self.now, "now")
        A.duration_argument(self.tolerance, "tolerance")
        if self.tolerance > MAX_TOLERANCE:
            raise UsageError(f"tolerance: at most {MAX_TOLERANCE.days} days, got {self.tolerance}", option="tolerance")
        object.__setattr__(self, "policies", A.policies_argument(self.policies))
        A.directory_argument(self.artifacts_dir, "artifacts_dir")
        if self.scope is not None:
            ArgumentTypeError.check(self.scope, str, "scope")
        if (self.log_proofs or self.require_log) and self.log_policy is None:
            raise UsageError("a log proof (or require_log) needs a witness policy (log_policy)", option="log_policy")
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


# Plain classes with __slots__, not dataclasses: these two are built for every receipt, and
# a frozen dataclass pays one object.__setattr__ per field.
class _TrustOutcome:
    """The trust check, the contract's ``chain_of_trust``, and the decision behind them."""

    __slots__ = ("chain", "check", "decision", "identity", "store_identity")

    def __init__(
        self,
        check: R.Check,
        chain: ChainStatus,
        decision: TrustDecision | None = None,
        entry_identity: str | None = None,
    ) -> None:
        self.check = check
        self.chain = chain
        self.decision = decision
        # The identity the trust store established for the key (never a claim).
        self.identity = decision.identity if decision is not None and decision.trusted else None
        # The trust store's identity for the key whether or not it is trusted now (revoked,
        # expired, contradicted by the receipt's claim): the contract's reported `signer`.
        self.store_identity = self.identity or entry_identity or (decision.identity if decision is not None else None)


class _Facts:
    """What every check reads: the proof's outcome, the receipt's time, the signer it claims."""

    __slots__ = ("claimed_signer", "key_text", "now", "receipt", "signature", "timestamp")

    def __init__(
        self,
        receipt: Receipt,
        signature: SignatureOutcome,
        timestamp: datetime,
        now: datetime,
        claimed_signer: str | None,  # a claim only its signing key made, else None
    ) -> None:
        self.receipt = receipt
        self.signature = signature
        self.timestamp = timestamp
        self.now = now
        self.claimed_signer = claimed_signer
        self.key_text = signature.key.text if signature.key is not None else None


def _facts(receipt: Receipt, options: VerifyOptions, signature: SignatureOutcome | None) -> _Facts:
    data = receipt.data
    if signature is None:
        signature = check_signature(receipt, options.trusted.known_key)
    claimed = data.get("signer") if signature.claims_bound else None
    return _Facts(
        receipt,
        signature,
        receipt.timestamp or parse_rfc3339(data["timestamp"]),
        options.now or utc_now(),
        claimed if isinstance(claimed, str) else None,
    )


_FORMAT_OK = R.Check("format", True, "ok", "well-formed receipt")  # frozen: one instance serves every receipt


def _verify_read(
    receipt: Receipt, options: VerifyOptions, signature: SignatureOutcome | None = None
) -> R.VerificationResult:
    """Verify a receipt this module just read (its signing input is fresh).

    *signature* is supplied when the proof is not the receipt's own (a DSSE envelope). Each
    check is collected whatever the others found:

    1. signature: the proof verifies (against the embedded key, or the envelope's);
    2. transparency: the receipt is in a witnessed log (when a log proof or policy is given);
    3. trust: the signing key is trusted for this receipt (or integrity-only was asked for);
    4. timestamp: not further in the future than the tolerance;
    5. policies: every requested policy holds;
    6. pipeline: the pipeline file's digest equals ``pipeline_hash`` (when given);
    7. artifacts: recorded outputs (and inputs) match the directory (when given).
    """
    facts = _facts(receipt, options, signature)
    transparency = _check_transparency(receipt, options)
    trust = _check_trust_witnessed(facts, options, transparency)
    timestamp_check, age = _check_timestamp(receipt.data["timestamp"], facts.now - facts.timestamp, options.tolerance)
    checks = [
        _FORMAT_OK,
        R.Check._passed_or_failed("signature", facts.signature.valid, facts.signature.code, facts.signature.message),
        trust.check,
        timestamp_check,
    ]
    violations: list[Violation] = []
    if options.policies:
        policy_checks, violations = _check_policies(options.policies, _policy_context(facts, trust))
        checks.extend(policy_checks)
    if options.pipeline_file is not None:
        checks.extend(_check_pipeline(receipt.data, options.pipeline_file))
    if options.artifacts_dir is not None:
        checks.extend(_check_artifacts(receipt.data, options))
    if transparency is not None:
        checks.extend(_transparency_checks(transparency))
    return _result(facts, trust, tuple(checks), violations, (timestamp_check.passed, age), transparency)


def _check_transparency(receipt: Receipt, options: VerifyOptions) -> Transparency | None:
    """The log check (docs/log.md), or ``None`` when no log was asked about."""
    if not (options.log_proofs or options.require_log):
        return None
    from attestkit.core.tlog.transparency import check_transparency

    return check_transparency(receipt, options.log_proofs, options.log_policy, required=options.require_log)


def _transparency_checks(transparency: Transparency | None) -> tuple[R.Check, ...]:
    if transparency is None:
        return ()
    return (R.Check("transparency", transparency.passed, transparency.code, transparency.message),)


def _check_trust_witnessed(facts: _Facts, options: VerifyOptions, transparency: Transparency | None) -> _TrustOutcome:
    """The trust check, with the log's witnessed time (when it passed) in force: it can spare a
    receipt made before a key's compromise date.

    The log entry dates the receipt's *own* signature, so the time counts only when the key
    judged is that signer (``claims_bound``): an envelope key wrapping someone else's logged
    receipt signed the envelope at a time no log vouches for."""
    logged = transparency is not None and transparency.passed and facts.signature.claims_bound
    witnessed = transparency.witnessed_at if logged and transparency is not None else None
    if witnessed is None and WITNESSED_AT.get() is None:  # nothing to put in force (the usual case)
        return _check_trust(facts.signature, facts.receipt.data, facts.timestamp, options, facts.claimed_signer)
    token = WITNESSED_AT.set(witnessed)
    try:
        return _check_trust(facts.signature, facts.receipt.data, facts.timestamp, options, facts.claimed_signer)
    finally:
        WITNESSED_AT.reset(token)


def _policy_context(facts: _Facts, trust: _TrustOutcome) -> PolicyContext:
    return PolicyContext(
        receipt=facts.receipt.data,
        signature_verified=facts.signature.valid,
        signer=trust.store_identity or facts.claimed_signer,
        public_key=facts.key_text,
        now=facts.now,
        timestamp=facts.timestamp,
        trusted_identity=trust.identity,
    )


def _result(
    facts: _Facts,
    trust: _TrustOutcome,
    checks: tuple[R.Check, ...],
    violations: Sequence[Violation],
    timing: tuple[bool, timedelta],  # the timestamp check's verdict, and the receipt's age
    transparency: Transparency | None,
) -> R.VerificationResult:
    key = facts.signature.key
    timestamp_valid, age = timing
    return R.VerificationResult._checked(
        facts.receipt.source,
        checks,
        facts.signature.valid,
        trust.store_identity or facts.claimed_signer,
        facts.key_text,
        key.key_id if key is not None else None,
        trust.chain,
        timestamp_valid,
        age.total_seconds() / 3600.0,
        tuple(violations),
        trust.decision.chain if trust.decision is not None else (),
        transparency.member if transparency is not None else None,
    )


def _check_trust(
    signature: SignatureOutcome,
    data: Mapping[str, Any],
    timestamp: datetime,
    options: VerifyOptions,
    claimed_signer: str | None,
) -> _TrustOutcome:
    """Whether the key that made a verified proof is trusted for this receipt."""
    key = signature.key
    if key is None or not signature.valid:
        return _TrustOutcome(
            R.Check("trust", False, "not-checked", "trust not established: signature did not verify"), R.CHAIN_UNTRUSTED
        )
    if options.integrity_only and _nothing_to_trust(options.trusted):
        # No trust store: the receipt's own delegations cannot establish anything, so they are
        # not even read (a bad or cyclic one must not turn an intact receipt invalid).
        return _TrustOutcome(
            R.Check("trust", True, "integrity-only", "integrity only: signer key not checked against a trust store"),
            R.CHAIN_UNTRUSTED,
        )
    decision = _trust(key, data, timestamp, options, claimed_signer)
    if options.integrity_only and _integrity_suffices(decision, key, options.trusted):
        check = R.Check("trust", True, "integrity-only", f"integrity only: trust not established ({decision.message})")
        return _TrustOutcome(check, R.CHAIN_UNTRUSTED, decision)
    check = R.Check._passed_or_failed("trust", decision.trusted, decision.code, decision.message)
    # A trusted decision carries the store's identity; only a refused one needs the entry read.
    entry = None if decision.trusted else options.trusted.lookup(key)
    return _TrustOutcome(check, decision.status, decision, entry.identity if entry is not None else None)


def _check_timestamp(text: str, age: timedelta, tolerance: timedelta) -> tuple[R.Check, timedelta]:
    """The receipt's *age* must not be more than *tolerance* below zero (a timestamp in the future)."""
    if age < -tolerance:
        message = f"timestamp {text} is {human_duration(-age)} in the future (tolerance {human_duration(tolerance)})"
        return R.Check._passed_or_failed("timestamp", False, "future", message), age
    when = f"{human_duration(age)} ago" if age >= timedelta(0) else "within clock tolerance"
    return R.Check._passed_or_failed("timestamp", True, "ok", f"{text} ({when})"), age


def _check_policies(policies: Sequence[Policy], context: PolicyContext) -> tuple[list[R.Check], list[Violation]]:
    """One passing check per satisfied policy, one failing check per violation."""
    checks: list[R.Check] = []
    violations: list[Violation] = []
    for policy in policies:
        found = policy.evaluate(context)
        violations.extend(found)
        if not found:
            checks.append(R.Check(f"policy:{policy.name}", True, "ok", "policy satisfied"))
        checks.extend(R.Check(f"policy:{v.policy}", False, "violation", v.message) for v in found)
    return checks, violations


def _check_pipeline(data: Mapping[str, Any], pipeline_file: str | None) -> list[R.Check]:
    """The pipeline file's digest against ``pipeline_hash`` (nothing when no file is given)."""
    if pipeline_file is None:
        return []
    from attestkit.core.verify.artifacts import check_pipeline

    finding = check_pipeline(data, pipeline_file)
    if finding is None:
        return [R.Check("pipeline", True, "ok", f"{pipeline_file} matches pipeline_hash")]
    return [R.Check("pipeline", False, finding.code, finding.message, pipeline_file)]


def _check_artifacts(data: Mapping[str, Any], options: VerifyOptions) -> list[R.Check]:
    """Recorded outputs (and inputs) against the artifacts directory (nothing when none is given)."""
    if options.artifacts_dir is None:
        return []
    from attestkit.core.verify.artifacts import check_artifacts_report

    report = check_artifacts_report(data, options.artifacts_dir, check_inputs=options.check_inputs)
    history = [R.Check("artifacts", True, "history", h.message, h.path) for h in report.history]
    if report.findings:
        return [*(R.Check("artifacts", False, f.code, f.message, f.path) for f in report.findings), *history]
    what = "outputs and inputs" if options.check_inputs else "outputs"
    return [R.Check("artifacts", True, "ok", f"all recorded {what} match {options.artifacts_dir}"), *history]


def verify_with_options(
    receipt: Receipt | Mapping[str, Any] | bytes, options: VerifyOptions, *, source: str | None = None
) -> R.VerificationResult:
    """Verify a receipt given as parsed :class:`Receipt`, mapping or raw bytes."""
    ArgumentTypeError.check(options, VerifyOptions, "options")
    ArgumentTypeError.check(source, (str, type(None)), "source")
    name = source or (receipt.source if isinstance(receipt, Receipt) else "<receipt>")
    if isinstance(receipt, Receipt):
        receipt = receipt.data  # only the data is taken from a Receipt: it is read again below
    try:
        if isinstance(receipt, (bytes, bytearray, memoryview)):
            return verify_bytes(bytes(receipt), options, source=name)
        return verify_document(receipt, options, source=name)
    except MalformedReceiptError as exc:
        return malformed_result(name, exc, options)


def verify_bytes(data: bytes, options: VerifyOptions, *, source: str, fmt: str | None = None) -> R.VerificationResult:
    """Verify a receipt or DSSE envelope from its bytes (*fmt*: ``"json"``, ``"yaml"`` or detected).

    A receipt in the proven subset of :func:`read_receipt_fast` is read once on the fast path;
    everything else is read strictly. A malformed receipt is an invalid result, not an error.
    """
    try:
        fast = None if fmt == "yaml" else read_receipt_fast(data, source=source)
        if fast is not None:
            return _verify_read(fast, options)
        return verify_document(parse_document(data, source=source, fmt=fmt), options, source=source)
    except MalformedReceiptError as exc:
        return malformed_result(source, exc, options)


def verify_document(document: Any, options: VerifyOptions, *, source: str) -> R.VerificationResult:
    """Verify a parsed document: a receipt, or a DSSE envelope around one."""
    from attestkit.core.receipt.dsse import is_envelope

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
    from attestkit.core.receipt.dsse import open_statement

    opened = open_statement(document, source)
    result = _verify_envelope_receipt(opened.receipt, opened.signed, opened.signatures, options)
    if options.artifacts_dir is None:
        return result
    # What the statement adds for other tools (sha256 subjects) must describe the files too.
    from dataclasses import replace

    from attestkit.core.intoto.subjects import subject_findings

    found = subject_findings(opened.subjects, options.artifacts_dir)
    if not found:
        return result
    extra = tuple(R.Check("subjects", False, f.code, f.message, f.name) for f in found)
    return replace(result, checks=result.checks + extra)


def _verify_envelope_receipt(
    receipt: Receipt, signed_bytes: bytes, signatures: list[tuple[str | None, bytes]], options: VerifyOptions
) -> R.VerificationResult:
    """The envelope's signature and the receipt inside (see :func:`_verify_envelope`)."""
    from attestkit.core.receipt.dsse import find_signer
    from attestkit.core.receipt.signing import embedded_public_key

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
            False,
            "inner-signature",
            f"DSSE envelope signed by {key.text}, but the receipt inside: {inner.message}",
            key,
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
    from attestkit.core.arguments import policies_argument, trusted_keys_argument

    store = trusted_keys_argument(trusted_keys)
    options = VerifyOptions(
        trusted=store,
        now=now,
        tolerance=tolerance,
        integrity_only=integrity_only,
        policies=policies_argument(policies),
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
    "verify_bytes",
    "verify_parsed",
    "verify_receipt",
    "verify_with_options",
]
