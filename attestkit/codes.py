"""Every machine-readable code attestkit emits, with its cause and what to do.

A code appears as ``checks[].code`` in ``verify --json``, as the second half of a SARIF rule
id (``<check>/<code>``), in JUnit and GitHub output, and as ``AttestkitError.code`` on every
exception. Codes are stable: a new one needs an entry here (a test compares this table with
every code in the source), and ``docs/codes.md`` is generated from it
(``python docs/gen_codes.py``, which also adds new codes to the pinned list
``tests/golden/codes.txt``; a code removed from here fails the test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Code:
    """One code: where it appears, why, and what the user can do about it."""

    code: str
    area: str  # the subject it belongs to (format, signature, trust, ...)
    cause: str
    action: str


_TABLE: tuple[tuple[str, str, str, str], ...] = (
    # ---- generic and outcome codes
    ("ok", "outcome", "the check passed", "nothing"),
    ("error", "error", "an attestkit error with no more specific code", "read the message"),
    ("invalid", "error", "the input was checked and is not acceptable (exit 1)", "read the message"),
    ("could-not-check", "error", "verification could not be completed (exit 2)", "fix the input named in the message"),
    ("usage", "error", "a command-line or library argument is wrong (exit 2)", "see `--help` or the docstring"),
    (
        "nothing-checked",
        "error",
        "the inputs held no receipt (an empty directory or JSON Lines stream): nothing was checked, so nothing passes (exit 2)",
        "check the path or the step that should have produced the receipts",
    ),
    ("file", "error", "an input file cannot be read as asked (exit 2)", "check the path and its type"),
    ("too-large", "error", "an input is over its documented size bound", "see docs/security.md for the bounds"),
    (
        "output-lost",
        "error",
        "standard output could not be written (its reader closed the pipe, the disk is full, it is closed): the output is incomplete, whatever the verdict (exit 2)",
        "keep the reader of the output open until the command ends (`head -c1` closes it early)",
    ),
    (
        "special-file",
        "error",
        "an input is a FIFO, device, socket or escaping link, or a link found below a directory",
        "pass a regular file (name a link's target itself)",
    ),
    (
        "echoed-credentials",
        "error",
        "a service's answer contains the credentials sent to it (exit 2)",
        "check the service: it must never return the token",
    ),
    (
        "ambiguous-name",
        "error",
        "a check line names two existing files (one literally, one through escapes)",
        "remove the decoy, or check each file by a path of its own",
    ),
    ("overwrites-key", "error", "an output path names a private key file (exit 2)", "write the output elsewhere"),
    ("size", "format", "a receipt is over the receipt size bound", "receipts are limited in size (docs/security.md)"),
    ("violation", "policy", "a policy found a violation", "fix the pipeline run or the policy"),
    ("not-evaluated", "policy", "policies were not evaluated (the receipt was not checked)", "fix the receipt first"),
    ("policy", "policy", "a policy file cannot be loaded (exit 2)", "run `attestkit policy check FILE`"),
    (
        "policy-fixture",
        "policy",
        "a `policy test` fixture or its .expect.yaml cannot be used (exit 2)",
        'see docs/policies.md, "Testing policies"',
    ),
    (
        "rego-unsupported",
        "policy",
        "a Rego policy uses what the embedded engine cannot evaluate exactly",
        "rewrite it, or use `--rego-engine opa`",
    ),
    (
        "rego-eval",
        "policy",
        "a Rego policy failed at evaluation (runtime error, conflict, wrong deny type)",
        "fix the policy; OPA would error too",
    ),
    # ---- strict reading (contract section 2)
    ("malformed", "format", "a receipt breaks a strict reading rule", "re-create it with `attestkit sign`"),
    ("syntax", "format", "a receipt is not valid JSON/YAML", "re-create it with `attestkit sign`"),
    (
        "yaml-version",
        "format",
        "a YAML receipt declares a %YAML version other than 1.2, whose scalars mean something else",
        "quote the affected scalars and write %YAML 1.2 (or none), or use JSON",
    ),
    ("encoding", "format", "a receipt is not UTF-8, or has a BOM", "write it as UTF-8 without a BOM"),
    ("duplicate-key", "format", "an object has the same key twice", "remove the duplicate: its meaning is ambiguous"),
    ("type", "format", "a field has the wrong type", "see docs/receipt-format.md"),
    ("empty", "format", "the document is empty", "pass a receipt"),
    ("canonicalization", "format", "a value cannot be written as RFC 8785 canonical JSON", "see contract section 2"),
    ("depth", "format", "nesting deeper than the canonicaliser allows", "flatten the document"),
    ("integer-range", "format", "an integer outside the exactly representable range", "write it as a string"),
    ("lone-surrogate", "format", "a string holds an unpaired UTF-16 surrogate", "fix the producer's string encoding"),
    ("non-finite", "format", "NaN or an infinity", "JSON has no such numbers"),
    ("non-string-key", "format", "an object key that is not a string", "JSON keys are strings"),
    (
        "envelope",
        "format",
        "a DSSE envelope was given where a receipt is needed (sign, export)",
        "use the receipt the envelope was made from",
    ),
    ("dsse", "format", "a DSSE envelope or in-toto statement is malformed", "re-create it with `attestkit export`"),
    (
        "vsa",
        "format",
        "a verification summary (SLSA VSA) is malformed, unsigned by the verifier, or does not cover the receipt",
        "re-run the gate that wrote it",
    ),
    ("dsse-signatures", "format", "a DSSE envelope has too many signatures", "at most 8 signatures per envelope"),
    # ---- signature
    (
        "bad-signature",
        "signature",
        "the Ed25519 signature does not verify: the receipt changed after signing",
        "do not deploy; re-run the pipeline",
    ),
    ("unsigned", "signature", "the receipt carries no signature", "sign it with `attestkit sign`"),
    ("signature-format", "signature", "the signature field is not 64 bytes of base64", "re-sign the receipt"),
    ("algorithm", "signature", "the receipt names an algorithm other than ed25519", "only Ed25519 is accepted"),
    ("inner-signature", "signature", "a DSSE envelope verifies but the receipt inside does not", "do not deploy"),
    (
        "signature-budget",
        "signature",
        "no DSSE signature verified within the per-envelope budget",
        "an envelope may hold at most 8 signatures",
    ),
    ("no-public-key", "signature", "the receipt has no signer_public_key", "re-sign the receipt"),
    ("public-key-format", "signature", "signer_public_key is not an ed25519 key text", "re-sign the receipt"),
    # ---- trust
    ("trusted", "trust", "the signing key is trusted for this receipt", "nothing"),
    ("delegated", "trust", "the signing key is trusted through a delegation chain", "nothing"),
    (
        "integrity-only",
        "trust",
        "integrity-only checking: trust was not established",
        "pass trusted keys to check trust",
    ),
    ("not-checked", "trust", "trust was not checked because the signature did not verify", "fix the signature first"),
    (
        "untrusted-key",
        "trust",
        "the signing key is not in the trust store",
        "add it to the keyring, or reject the receipt",
    ),
    ("revoked", "trust", "the signing key (or a key on its chain) is revoked", "do not deploy; see docs/keys.md"),
    ("expired", "trust", "the receipt is after the key's validity window", "rotate keys (docs/keys.md)"),
    ("not-yet-valid", "trust", "the receipt is before the key's validity window", "check the key's not_before"),
    ("out-of-scope", "trust", "the key is not trusted for this scope", "check the keyring's scopes and --scope"),
    ("signer-mismatch", "trust", "the receipt claims an identity its key does not have", "do not deploy"),
    (
        "bad-delegation",
        "trust",
        "a delegation statement is malformed or its signature fails",
        "re-issue it with `attestkit keys delegate`",
    ),
    ("delegation-expired", "trust", "the receipt is after a delegation's window", "re-delegate"),
    ("delegation-not-yet-valid", "trust", "the receipt is before a delegation's window", "check the delegation window"),
    ("delegation-cycle", "trust", "delegations form a cycle", "remove the cycle"),
    ("chain-too-long", "trust", "the delegation chain is longer than 4 links", "delegate from nearer the root"),
    (
        "too-many-delegations",
        "trust",
        "a receipt carries more than 32 delegation statements",
        "carry only the chain needed",
    ),
    (
        "not-a-root",
        "trust",
        "a key delegated without being a root or allowed to re-delegate",
        "delegate from a root key",
    ),
    (
        "may-not-delegate",
        "trust",
        "a delegated key re-delegated without may_delegate",
        "re-issue the parent with may_delegate: true",
    ),
    ("identity-not-narrowed", "trust", "a re-delegation tried to change the identity", "a link may only narrow"),
    ("trust-store", "error", "a trusted-keys file or keyring is malformed", "fix the keyring (docs/keys.md)"),
    ("keyring-edit", "error", "a keyring edit was refused", "read the message"),
    (
        "weakens-revocation",
        "error",
        "an edit would weaken or undo a revocation",
        "revocations are one-way (docs/keys.md)",
    ),
    ("unknown-key", "error", "the key is not in the keyring", "check the key id"),
    # ---- keys
    ("key", "error", "a key cannot be read", "see docs/keys.md for accepted forms"),
    ("key-decode", "error", "a key's encoding is broken", "re-export the key"),
    ("unsupported-key", "error", "a key is not Ed25519", "use an Ed25519 key"),
    ("weak-key", "error", "a public key is a small-order or non-canonical point", "generate a fresh key"),
    (
        "passphrase",
        "error",
        "an encrypted key needs ATTESTKIT_KEY_PASSPHRASE, or it is wrong",
        "set the passphrase variable",
    ),
    (
        "kdf-cost",
        "error",
        "an encrypted private key asks its key derivation for more work than the bound (docs/security.md)",
        "re-encrypt the key with the default cost",
    ),
    (
        "empty-passphrase",
        "error",
        "ATTESTKIT_KEY_PASSPHRASE is set but empty where a new key would be encrypted (exit 2)",
        "set the passphrase (check the CI secret exists), or unset the variable for an unencrypted key",
    ),
    (
        "public-not-private",
        "error",
        "a public key file was given where a private key is needed",
        "pass NAME.key, not NAME.pub",
    ),
    (
        "key-path-in-env",
        "error",
        "ATTESTKIT_SIGNING_KEY holds a file path instead of the key",
        "pass --key PATH, or put the PEM text in the variable",
    ),
    ("key-permissions", "error", "a secret file is readable by group or others", "chmod 600 the file"),
    # ---- timestamp
    ("future", "timestamp", "the receipt's timestamp is beyond the clock tolerance", "check the producer's clock"),
    # ---- pipeline and artifacts
    ("pipeline", "error", "a pipeline file is invalid", "see docs/pipeline.md"),
    (
        "pipeline-mismatch",
        "pipeline",
        "the pipeline file's digest differs from pipeline_hash",
        "verify against the pipeline file that ran",
    ),
    (
        "no-pipeline-hash",
        "pipeline",
        "the receipt has no pipeline_hash to compare with",
        "produce receipts with attestkit run",
    ),
    ("artifact", "error", "an artifact cannot be represented or hashed", "read the message"),
    (
        "digest-mismatch",
        "artifacts",
        "an artifact's BLAKE3 digest differs from the receipt",
        "do not deploy this artifact",
    ),
    (
        "files-mismatch",
        "artifacts",
        "a directory output's files map does not reproduce its digest (per-file names nobody checked)",
        "do not deploy it; re-record the directory with attestkit run or record",
    ),
    ("size-mismatch", "artifacts", "an artifact's size differs from the receipt", "do not deploy this artifact"),
    ("missing", "artifacts", "a recorded artifact is not in the directory", "pass the directory the pipeline produced"),
    ("unreadable", "artifacts", "an artifact cannot be read", "check permissions"),
    (
        "unsafe-path",
        "artifacts",
        "a recorded path would escape the artifacts directory",
        "do not deploy: the receipt is hostile",
    ),
    (
        "escapes-tree",
        "artifacts",
        "a recorded path resolves through a symlink outside the directory (verify), or the working directory (run)",
        "do not deploy it; record the files themselves, not links to elsewhere",
    ),
    ("not-directory", "artifacts", "a path recorded as a directory is not one", "check the artifacts directory"),
    (
        "changed",
        "artifacts",
        "a file changed, or was swapped for a link, while it was hashed",
        "hash again on a quiet tree",
    ),
    ("unrepresentable-name", "artifacts", "a file name is not UTF-8 and cannot be recorded", "rename the file"),
    ("cancelled", "artifacts", "hashing was interrupted", "run again"),
    ("hashing", "error", "a file or tree could not be hashed", "read the message"),
    # ---- budgets (bulk)
    ("budget-size", "budget", "a receipt is over the bulk size budget", "raise --receipt-max-bytes if it is genuine"),
    (
        "budget-time",
        "budget",
        "a receipt took longer than the bulk time budget",
        "raise --receipt-timeout if it is genuine",
    ),
    # ---- transparency log
    (
        "log-proof-required",
        "transparency",
        "--require-log was given and no proof proves the receipt",
        "pass its .tlog-proof",
    ),
    ("log-policy-missing", "transparency", "a log proof was given without a witness policy", "pass --log-policy"),
    ("tlog", "transparency", "a transparency-log check failed", "read the message"),
    ("tlog-note", "transparency", "a signed note or checkpoint does not verify", "check the log key"),
    (
        "tlog-proof",
        "transparency",
        "an inclusion or consistency proof does not verify",
        "the log and the receipt disagree",
    ),
    (
        "tlog-inconsistent",
        "transparency",
        "two checkpoints of one log are inconsistent (a fork)",
        "report the log: it is misbehaving",
    ),
    ("tlog-corrupt", "transparency", "the log's stored data is corrupt", "restore the log from a witness-checked copy"),
    ("tlog-quorum", "transparency", "the checkpoint lacks the witness quorum", "collect more cosignatures"),
    ("tlog-config", "error", "a witness policy or log configuration is invalid", "see docs/log.md"),
    ("tlog-state", "error", "the log's on-disk state cannot be used", "see docs/log.md"),
    # ---- webhooks
    ("webhook", "webhook", "a webhook did not verify", "read the message"),
    ("webhook-signature", "webhook", "no signature matched any secret", "check the secret and the raw body"),
    ("webhook-timestamp", "webhook", "the webhook timestamp is outside the tolerance", "check clocks, or a replay"),
    ("webhook-header", "webhook", "a signature header is missing or malformed", "check the sender's scheme"),
    ("webhook-replay", "webhook", "a delivery id was seen before", "drop the delivery"),
    ("webhook-secret", "error", "a webhook secret is malformed or too short", "see docs/webhooks for secret forms"),
    ("webhook-input-type", "error", "a webhook body or header is not bytes/str", "pass the raw request body as bytes"),
    (
        "webhook-serialise",
        "error",
        "a WebhookVerifier or webhook secret was pickled or copied (secrets are never serialised)",
        "build the verifier from its secrets in each process that verifies",
    ),
    # ---- fetching
    ("fetch", "error", "a receipt could not be fetched", "read the message"),
    ("bad-id", "error", "an execution id is not acceptable", "pass the id as ATTEST shows it"),
    ("bad-request", "error", "the server refused the request", "check the URL and credentials"),
    ("bad-response", "error", "the server's answer is not a receipt", "check the profile and URL"),
    ("bad-url", "error", "a URL is malformed", "pass an http(s) URL"),
    ("insecure-url", "error", "a plain-http URL to a non-loopback host", "use https"),
    ("insecure-redirect", "error", "a redirect to another origin or to http", "fetch from the final URL"),
    ("redirects", "error", "too many redirects", "fetch from the final URL"),
    ("deadline", "error", "the request deadline passed", "raise --deadline"),
    ("retry-budget", "error", "retries were exhausted", "try later"),
    ("network", "error", "the network failed", "check connectivity"),
    ("dns", "error", "a host name does not resolve (not retried)", "check the URL, and that this machine is online"),
    ("not-json", "error", "the server's answer is not JSON", "check the profile and URL"),
    ("wait-timeout", "error", "the execution did not finish within --wait", "raise --wait"),
    # ---- producing, exporting, cluster, graphs
    (
        "draft-refused",
        "error",
        "record/finalize refused: the draft belongs to another run, is finalized, or has the step",
        "finalize or remove the old draft, or pass the right --run-id",
    ),
    (
        "resign-refused",
        "error",
        "sign refused to replace an existing signature or signer claim",
        "pass --replace-signature, --signer or --no-signer",
    ),
    (
        "export-artifacts",
        "error",
        "an artifact does not match the receipt, so it cannot be a subject",
        "export against the directory the pipeline produced",
    ),
    ("export-no-subject", "error", "the receipt records nothing to name as a subject", "record outputs"),
    (
        "history",
        "artifacts",
        "an earlier recorded state of a path differs from its last one (reported with --check-inputs, not a failure)",
        "nothing: it shows how the path changed across steps",
    ),
    (
        "subject-mismatch",
        "artifacts",
        "a statement subject's sha256/sha512/blake3 is not the digest of the file under --artifacts",
        "re-export with `attestkit export --artifacts DIR`",
    ),
    ("export-no-tests", "error", "a test-result export needs a test attestation", "record a JUnit report"),
    ("export-unverified", "error", "export refused: the receipt does not verify", "verify it first"),
    ("no-receipt", "format", "a cluster row carries no receipt bytes", "check the input table's receipt column"),
    ("dask-scheduler", "error", "the Dask scheduler cannot be reached", "check the scheduler address"),
    ("graphviz", "error", "Graphviz failed to render", "read the message"),
    ("graphviz-missing", "error", "Graphviz `dot` is not installed", "install graphviz, or use --format dot"),
)

REGISTRY: Mapping[str, Code] = MappingProxyType({row[0]: Code(*row) for row in _TABLE})


def describe(code: str) -> Code | None:
    """The registry entry for *code*, or ``None`` if it is not a known code."""
    return REGISTRY.get(code)


def codes_markdown() -> str:
    """``docs/codes.md``: every code, grouped by area, with its cause and what to do."""
    lines = [
        "# Codes",
        "",
        "Every machine-readable code attestkit emits: `checks[].code` in `verify --json`, the",
        "second half of a SARIF rule id (`<check>/<code>`), JUnit and GitHub output, and",
        "`AttestkitError.code` on exceptions. Generated from `attestkit/codes.py` by",
        "`python docs/gen_codes.py`; a test fails when they differ.",
        "",
    ]
    areas: dict[str, list[Code]] = {"outcome": [], "format": [], "signature": [], "trust": [], "timestamp": []}
    for entry in REGISTRY.values():
        areas.setdefault(entry.area, []).append(entry)
    for area, entries in areas.items():
        title = "errors (exceptions; exit code per class)" if area == "error" else area
        lines += [f"## {title}", "", "| code | cause | what to do |", "|---|---|---|"]
        lines += [f"| `{e.code}` | {e.cause} | {e.action} |" for e in sorted(entries, key=lambda e: e.code)]
        lines.append("")
    return "\n".join(lines)


__all__ = ["REGISTRY", "Code", "codes_markdown", "describe"]
