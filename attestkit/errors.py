"""The one exception hierarchy of attestkit.

Every error carries a stable ``code`` (used by ``--json``, reports and tests) and an
``exit_code`` following the contract: 1 means "checked and found invalid", 2 means
"could not check". Messages never contain secrets.

Where a stdlib class is the natural one, an error is also that class (PyNaCl's
``class ValueError(builtins.ValueError, CryptoError)`` pattern): a :class:`UsageError` (an
argument of the wrong value) is a ``ValueError``, an :class:`ArgumentTypeError` (an argument of
the wrong type) a ``TypeError`` too. So ``except ValueError`` around a library call keeps
working, and no foreign exception escapes the public API for a bad argument.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

_E = TypeVar("_E", bound="AttestkitError")


class AttestkitError(Exception):
    """Base of every error attestkit raises."""

    code: str = "error"
    exit_code: int = 2

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def prefixed(self: _E, prefix: str) -> _E:
        """The same error (class, code, details) with *prefix* before its message: re-wrap with
        this (``raise exc.prefixed(f"{path}: ") from None``) so the code is never lost."""
        # Built field by field, never through copy.copy: a copier registered by another library
        # could hand back this very object, and the original must keep its message.
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._prefix_message(prefix)
        clone.args = (str(clone),)
        return clone

    def _prefix_message(self, prefix: str) -> None:
        self.message = prefix + self.message


# ---- "checked and found invalid" (exit 1) -------------------------------------------


class InvalidError(AttestkitError):
    """The input was checked and is not acceptable."""

    code = "invalid"
    exit_code = 1


class CanonicalizationError(InvalidError):
    """A value cannot be written as RFC 8785 canonical JSON."""

    code = "canonicalization"

    def __init__(self, message: str, *, pointer: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.reason = message
        self.pointer = pointer

    def __str__(self) -> str:
        where = self.pointer or "/"
        return f"{self.reason} at {where}"

    def _prefix_message(self, prefix: str) -> None:
        super()._prefix_message(prefix)
        self.reason = prefix + self.reason


class MalformedReceiptError(InvalidError):
    """A receipt breaks one of the strict reading rules (contract section 2)."""

    code = "malformed"

    def __init__(self, message: str, *, source: str = "<receipt>", where: str = "", code: str | None = None) -> None:
        self.source = source
        self.where = where
        self.rule = message
        text = f"{source}: {message}" + (f" at {where}" if where else "")
        super().__init__(text, code=code)


class ArtifactError(InvalidError):
    """An artifact cannot be represented or hashed as the contract requires."""

    code = "artifact"


class WebhookVerificationError(InvalidError):
    """A webhook did not verify."""

    code = "webhook"


class WebhookSignatureError(WebhookVerificationError):
    """No signature matched any of the secrets."""

    code = "webhook-signature"


class WebhookTimestampError(WebhookVerificationError):
    """The webhook timestamp is missing, malformed, too old or too far in the future."""

    code = "webhook-timestamp"


class WebhookHeaderError(WebhookVerificationError):
    """A required webhook header is missing or malformed."""

    code = "webhook-header"


class WebhookReplayError(WebhookVerificationError):
    """The same message was already accepted within the tolerance window."""

    code = "webhook-replay"


class TlogError(InvalidError):
    """A transparency-log object (signed note, checkpoint, proof, tile, log) was checked and is not acceptable."""

    code = "tlog"


class NoteVerificationError(TlogError):
    """A signed note is malformed, or no trusted key's signature on it verifies."""

    code = "tlog-note"


class MerkleProofError(TlogError):
    """An inclusion or consistency proof does not verify."""

    code = "tlog-proof"


class LogConsistencyError(TlogError):
    """Two views of one log disagree: ``kind`` is ``rollback`` or ``fork``."""

    code = "tlog-inconsistent"

    def __init__(self, message: str, *, kind: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.kind = kind


class LogCorruptError(TlogError):
    """A stored log's tiles, entry bundles or checkpoints do not agree with each other."""

    code = "tlog-corrupt"


class WitnessQuorumError(TlogError):
    """A checkpoint lacks the cosignatures a witness policy requires."""

    code = "tlog-quorum"


# ---- "could not check" (exit 2) ------------------------------------------------------


class CouldNotCheckError(AttestkitError):
    """Something needed to reach a verdict is missing or unusable."""

    code = "could-not-check"
    exit_code = 2


class UsageError(CouldNotCheckError, ValueError):
    """The caller asked for something inconsistent or incomplete. Also a ``ValueError``.

    ``option`` names the setting at fault in library terms (``now``, ``require_log``, ...) when
    there is one, so that a front end can name its own spelling of it (the CLI: its flag).
    """

    code = "usage"

    def __init__(self, message: str, *, code: str | None = None, option: str | None = None) -> None:
        super().__init__(message, code=code)
        self.option = option


class ArgumentTypeError(UsageError, TypeError):
    """A public function was given an argument of the wrong type. Also a ``TypeError`` (and, as
    every :class:`UsageError`, a ``ValueError``). Its code stays ``usage``."""

    @classmethod
    def check(cls, value: Any, types: type | tuple[type, ...], what: str) -> None:
        """Refuse *value* unless it is an instance of *types* (``bool`` never passes for ``int``)."""
        if isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types)):
            return
        cls.refuse(value, types, what)

    @classmethod
    def refuse(cls, value: Any, types: type | tuple[type, ...], what: str) -> NoReturn:
        """Raise: *what* must be one of *types*, not the type of *value* (the value is never shown)."""
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise cls(f"{what} must be {names}, not {type(value).__name__}")


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


class PipelineError(UsageError):
    """A pipeline file (``attest.yaml``) that cannot be run (exit 2)."""

    code = "pipeline"


class ResignRefused(UsageError):
    """Signing would replace a signature or a signer claim without being told to (exit 2)."""

    code = "resign-refused"


class DraftRefused(UsageError):
    """Recording into or finalizing this draft would mix runs or repeat work (exit 2)."""

    code = "draft-refused"


class WebhookSecretError(UsageError):
    """A configured webhook secret is unusable: empty, the wrong form for the schemes it must
    serve, or kept in a file that group or others can read. Raised when the receiver is
    configured, never because of what a request contains."""

    code = "webhook-secret"


class WebhookInputTypeError(ArgumentTypeError):
    """The caller passed a webhook body or headers of the wrong type (the body must be the raw
    request bytes; header names and values are ``str``). Also a ``TypeError``."""

    code = "webhook-input-type"


class InputFileError(CouldNotCheckError):
    """A file could not be read or written."""

    code = "file"


class OutputLostError(CouldNotCheckError):
    """Standard output could not be written (its reader went away, the disk is full, it is
    closed): whatever the verdict, it did not get out, so the run could not be completed (exit 2)."""

    code = "output-lost"


class KeyFormatError(CouldNotCheckError):
    """A key could not be read, has the wrong type or is not acceptable."""

    code = "key"


class KeyPermissionError(KeyFormatError):
    """A private key file is readable by group or others."""

    code = "key-permissions"


class TrustStoreError(CouldNotCheckError):
    """A trusted-keys file or keyring is unusable."""

    code = "trust-store"


class KeyringEditError(UsageError):
    """A keyring edit is refused (unknown or duplicate key, a revocation it would weaken)."""

    code = "keyring-edit"


class PolicyError(CouldNotCheckError):
    """A policy name or policy file is unknown, unreadable or invalid."""

    code = "policy"


class RegoUnsupportedError(PolicyError):
    """A Rego policy uses syntax, a builtin or a construct attestkit refuses to evaluate."""

    code = "rego-unsupported"


class RegoEvaluationError(PolicyError):
    """Evaluating a Rego policy failed (runtime error, conflict, or a decision of the wrong type)."""

    code = "rego-eval"


class HashingError(CouldNotCheckError):
    """A path cannot be hashed (unrepresentable name, special file, unreadable)."""

    code = "hashing"


class FetchError(CouldNotCheckError):
    """A receipt could not be fetched from a remote service."""

    code = "fetch"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.request_id = request_id


class TlogConfigError(CouldNotCheckError):
    """A vkey, skey, witness policy or log option is unusable."""

    code = "tlog-config"


class LogStateError(CouldNotCheckError):
    """A log directory cannot be used now (missing, locked by a writer, or left in a state to refuse)."""

    code = "tlog-state"


__all__ = [
    "ArgumentTypeError",
    "ArtifactError",
    "AttestkitError",
    "CanonicalizationError",
    "CouldNotCheckError",
    "DraftRefused",
    "FetchError",
    "HashingError",
    "InputFileError",
    "InvalidError",
    "KeyFormatError",
    "KeyPermissionError",
    "KeyringEditError",
    "LogConsistencyError",
    "LogCorruptError",
    "LogStateError",
    "MalformedReceiptError",
    "MerkleProofError",
    "NoteVerificationError",
    "OutputLostError",
    "PipelineError",
    "PolicyError",
    "RegoEvaluationError",
    "RegoUnsupportedError",
    "ResignRefused",
    "TlogConfigError",
    "TlogError",
    "TrustStoreError",
    "UsageError",
    "WebhookHeaderError",
    "WebhookInputTypeError",
    "WebhookReplayError",
    "WebhookSecretError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "WitnessQuorumError",
]
