"""``verify --summary-out`` (write a signed SLSA VSA for the run) and ``verify --summary`` (check one)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from attestkit.adapters.files import MAX_POLICY_FILE_BYTES, load_public_key, read_bytes, read_receipt_bytes
from attestkit.cli.output import json_line, out, safe, warn
from attestkit.cli.summary_flags import summary_options
from attestkit.core.intoto.vsa import DEFAULT_MAX_AGE, JudgedReceipt, PolicyRef, check_summary, digests_of
from attestkit.core.receipt.reader import MAX_RECEIPT_BYTES, parse_document
from attestkit.core.verify.bulk import BulkItem
from attestkit.errors import AttestkitError, MalformedReceiptError, UsageError


def default_verifier_id(public_text: str) -> str:
    """The verifier id when none is given: names the signing key."""
    return "https://attestkit.dev/verifier/" + public_text.replace(":", "/")


def policy_refs(names: Sequence[str], files: Sequence[str], data: dict[str, bytes]) -> list[PolicyRef]:
    """The run's policies as the summary names them: built-ins by name, then files with the bytes evaluated."""
    return [PolicyRef(name) for name in names] + [PolicyRef(path, data[path]) for path in files]


class SummaryRecorder:
    """Notes each receipt's digests and subjects as it goes by, for the summary written at the end."""

    def __init__(self, artifacts_dir: str | None) -> None:
        self.artifacts_dir = artifacts_dir
        self.judged: list[JudgedReceipt] = []

    def wrap(self, items: Iterator[BulkItem]) -> Iterator[BulkItem]:
        """Yield *items* unchanged, recording those whose bytes were read."""
        for item in items:
            if item.data is not None:
                self.judged.append(JudgedReceipt(item.label, digests_of(item.data), self._subjects(item)))
            yield item

    def _subjects(self, item: BulkItem) -> dict[str, dict[str, str]]:
        from attestkit.core.intoto.statement import expected_subjects
        from attestkit.core.receipt.dsse import is_envelope, open_envelope
        from attestkit.core.receipt.reader import receipt_from_mapping

        assert item.data is not None
        try:
            document = parse_document(item.data, source=item.label, fmt=item.fmt)
            receipt = (
                open_envelope(document, item.label)[0] if is_envelope(document) else receipt_from_mapping(document)
            )
            if self.artifacts_dir is not None:
                from attestkit.core.intoto.subjects import artifact_subjects

                try:
                    return artifact_subjects(receipt.data, self.artifacts_dir)
                except AttestkitError:
                    pass  # verify reports the artifacts; the summary names blake3 only
            return {name: {"blake3": hex_} for name, hex_ in expected_subjects(receipt.data).items()}
        except AttestkitError:
            return {}  # malformed: the verdict says so; it names no subject


def write_summary(
    path: str,
    recorder: SummaryRecorder,
    policies: Sequence[PolicyRef],
    *,
    passed: bool,
    key_file: str | None,
    verifier_id: str | None,
    now: datetime,
) -> None:
    """Sign and write the VSA for the receipts *recorder* saw (atomically)."""
    from attestkit.adapters.files import load_signing_key, write_atomic
    from attestkit.core.intoto.vsa import sign_summary, summary_statement

    key = load_signing_key(key_file)
    if not recorder.judged:
        raise UsageError("--summary-out: no receipt was read, nothing to summarise")
    document = summary_statement(
        recorder.judged,
        policies,
        passed=passed,
        verifier_id=verifier_id or default_verifier_id(key.public_key.text),
        time_verified=now,
    )
    envelope = sign_summary(document, key)
    write_atomic(path, (json.dumps(envelope, indent=2) + "\n").encode("utf-8"))
    verdict = "PASSED" if passed else "FAILED"
    warn(f"summary ({verdict}, {len(recorder.judged)} receipts) written to {path}")


def check_summary_command(
    summary_file: str,
    key_values: Sequence[str],
    receipts: Sequence[str],
    policy_names: Sequence[str],
    policy_files: Sequence[str],
    verifier_id: str | None,
    now: datetime,
    as_json: bool,
    max_age: timedelta | None = None,
) -> int:
    """``verify --summary FILE --summary-key KEY RECEIPT...``: exit 0 when the summary vouches for them."""
    if not key_values:
        raise UsageError("--summary needs the verifier's public key (--summary-key KEY)")
    if not receipts:
        raise UsageError("--summary needs the RECEIPT files it should vouch for")
    keys = [load_public_key(value) for value in key_values]
    given = [(path, read_receipt_bytes(path)) for path in receipts]
    policies = None
    if policy_names or policy_files:
        data = {path: read_bytes(path, "policy file", MAX_POLICY_FILE_BYTES) for path in policy_files}
        policies = policy_refs(policy_names, policy_files, data)
    raw = read_bytes(summary_file, "summary", MAX_RECEIPT_BYTES)
    try:
        document = parse_document(raw, source=summary_file, fmt="json")
        check = check_summary(
            document,
            keys,
            source=summary_file,
            receipts=given,
            policies=policies,
            verifier_id=verifier_id,
            now=now,
            max_age=max_age if max_age is not None else DEFAULT_MAX_AGE,
        )
    except MalformedReceiptError as exc:
        if as_json:
            out(json_line({"summary": summary_file, "valid": False, "problems": [str(exc)]}))
        else:
            out(f"INVALID  {safe(summary_file)}\n  FAIL  {safe(str(exc))}")
        return 1
    if as_json:
        out(json_line(check.to_json(summary_file)))
    else:
        lines = [f"{'VALID' if check.valid else 'INVALID'}  {safe(summary_file)}"]
        lines.append(
            f"  verifier {safe(str(check.verifier_id))}, {safe(str(check.verification_result))} "
            f"at {safe(str(check.time_verified))}"
        )
        lines += [f"  ok    covers {safe(label)}" for label in check.covered]
        lines += [f"  FAIL  {safe(problem)}" for problem in check.problems]
        out("\n".join(lines))
    return 0 if check.valid else 1


__all__ = [
    "SummaryRecorder",
    "check_summary_command",
    "default_verifier_id",
    "policy_refs",
    "summary_options",
    "write_summary",
]
