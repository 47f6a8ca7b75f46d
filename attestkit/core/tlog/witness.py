"""A witness (c2sp.org/tlog-witness), as pure decisions: check a new checkpoint against the
stored one, cosign it, and answer ``add-checkpoint`` requests with the spec's status codes.

Loading and persisting the stored checkpoint (atomically with the check) is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from attestkit.core.tlog.checkpoint import Checkpoint, parse_checkpoint_text
from attestkit.core.tlog.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, Signer, Verifier, b64decode, open_note, split_note
from attestkit.errors import (
    LogConsistencyError,
    MerkleProofError,
    NoteVerificationError,
    TlogConfigError,
)

MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})\Z")


def check_update(stored: Checkpoint | None, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that *new* extends *stored* (the latest checkpoint cosigned), with *proof* from it.

    Raises :class:`LogConsistencyError` (``kind`` ``rollback`` or ``fork``) or, for a proof
    that does not verify, :class:`LogConsistencyError` with kind ``fork`` as well: an honest log
    can always prove consistency.
    """
    if stored is not None and stored.origin != new.origin:
        raise TlogConfigError(f"stored state is for {stored.origin!r}, not {new.origin!r}")
    old_size = 0 if stored is None else stored.size
    if new.size < old_size:
        raise LogConsistencyError(
            f"rollback: {new.origin} was cosigned at size {old_size}; this checkpoint has the smaller size {new.size}",
            kind="rollback",
        )
    if stored is None or old_size == 0:
        if proof:
            raise MerkleProofError("a consistency proof from size 0 must be empty")
        return
    try:
        verify_consistency(old_size, new.size, stored.root, new.root, proof)
    except MerkleProofError as exc:
        if new.size == old_size:
            raise LogConsistencyError(
                f"fork: {new.origin} at size {new.size} has a different root hash from the one cosigned", kind="fork"
            ) from None
        raise LogConsistencyError(
            f"fork: {new.origin} at size {new.size} is not consistent with the cosigned size {old_size} ({exc})",
            kind="fork",
        ) from None


def cosign(signer: Signer, checkpoint_note: str, checkpoint: Checkpoint, timestamp: int) -> str:
    """The ``cosignature/v1`` line for *checkpoint* at *timestamp*."""
    if signer.alg != ALG_COSIGNATURE_V1:
        raise TlogConfigError("a witness key must have signature type 0x04 (cosignature/v1)")
    return signer.signature_line(checkpoint.text, timestamp)


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, content type, body, and the checkpoint to persist on success."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    new_state: Checkpoint | None = None


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


def parse_request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """Split an ``add-checkpoint`` body into old size, proof hashes and the checkpoint note."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ValueError("request body is too large")
    lines: list[bytes] = []
    rest = body
    while True:
        line, newline, rest = rest.partition(b"\n")
        if not newline:
            raise ValueError("request has no empty line before the checkpoint")
        if not line:
            break
        lines.append(line)
    if not lines:
        raise ValueError("request has no old size line")
    match = _OLD.match(lines[0].decode("ascii", "replace"))
    if match is None:
        raise ValueError("first line must be 'old N'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise ValueError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        value = b64decode(line.decode("ascii", "replace"), "proof line")
        if len(value) != HASH_SIZE:
            raise ValueError("a consistency proof line is not a 32-byte hash")
        proof.append(value)
    return int(match.group(1)), proof, rest


def add_checkpoint(
    body: bytes,
    logs: Mapping[str, Sequence[Verifier]],
    load: Callable[[str], Checkpoint | None],
    signer: Signer,
    now: int,
) -> Response:
    """Answer one ``add-checkpoint`` request (call under the lock that guards the stored state)."""
    try:
        old_size, proof, note_bytes = parse_request(body)
        text, _ = split_note(note_bytes)
    except (ValueError, NoteVerificationError) as exc:
        return _text(400, f"bad request: {exc}")
    origin = text.split("\n", 1)[0]
    keys = logs.get(origin)
    if not keys:
        return _text(404, "unknown log origin")
    try:
        note = open_note(note_bytes, keys)
    except NoteVerificationError as exc:
        return _text(403, f"checkpoint signature: {exc}")
    lines = note.text.split("\n")
    if len(lines) >= 3 and lines[1] == "0":
        try:
            root = b64decode(lines[2], "root")
        except ValueError:
            root = b""
        if root != EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must carry the empty tree's root hash")
    try:
        checkpoint = parse_checkpoint_text(note.text)
    except NoteVerificationError as exc:
        return _text(400, f"bad checkpoint: {exc}")
    if old_size > checkpoint.size:
        return _text(400, "old size is larger than the checkpoint size")
    stored = load(origin)
    stored_size = 0 if stored is None else stored.size
    if old_size != stored_size:
        return Response(409, f"{stored_size}\n".encode(), "text/x.tlog.size")
    try:
        check_update(stored, checkpoint, proof)
    except (LogConsistencyError, MerkleProofError) as exc:
        return _text(422, str(exc))
    line = cosign(signer, note.text, checkpoint, now)
    return Response(200, line.encode(), new_state=checkpoint)


__all__ = ["MAX_PROOF_LINES", "Response", "add_checkpoint", "check_update", "cosign", "parse_request"]
