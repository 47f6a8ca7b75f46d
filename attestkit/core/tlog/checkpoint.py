"""Checkpoints (c2sp.org/tlog-checkpoint): origin, tree size, root hash, extension lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from attestkit.core.tlog.merkle import EMPTY_ROOT, HASH_SIZE
from attestkit.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Note,
    Signer,
    Verifier,
    b64decode,
    b64encode,
    open_note,
    sign_note,
)
from attestkit.errors import NoteVerificationError, TlogConfigError

_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\Z")
MAX_TREE_SIZE = (1 << 64) - 1


@dataclass(frozen=True)
class Checkpoint:
    """The note text of a checkpoint."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The note text (ends with a newline)."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    def sign(self, signer: Signer) -> str:
        """The checkpoint signed by the log key as a note."""
        if signer.alg != ALG_ED25519:
            raise TlogConfigError("a log signs checkpoints with an Ed25519 (type 0x01) key")
        return sign_note(self.text, [signer])


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse a checkpoint's note text; raises :class:`NoteVerificationError` if it is malformed."""
    if not text.endswith("\n"):
        raise NoteVerificationError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteVerificationError("a checkpoint has at least three lines: origin, size, root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteVerificationError("checkpoint origin line is empty")
    if not _SIZE.match(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise NoteVerificationError("checkpoint tree size must be a decimal number without leading zeroes")
    try:
        root = b64decode(root_text, "root hash")
    except ValueError:
        raise NoteVerificationError("checkpoint root hash is not standard base64") from None
    if len(root) != HASH_SIZE:
        raise NoteVerificationError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    size = int(size_text)
    if size == 0 and root != EMPTY_ROOT:
        raise NoteVerificationError("a checkpoint of size 0 must carry the empty tree's root hash")
    if any(not line for line in extensions):
        raise NoteVerificationError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came from."""

    checkpoint: Checkpoint
    note: Note
    raw: str

    @property
    def cosignatures(self) -> dict[str, int]:
        """Verified ``cosignature/v1`` signers of the note and their timestamps (by key name)."""
        return {
            v.name: int.from_bytes(s.signature[:8], "big") for v, s in self.note.verified if v.alg == ALG_COSIGNATURE_V1
        }


def open_checkpoint(
    data: bytes | str, log_keys: Iterable[Verifier], witness_keys: Iterable[Verifier] = ()
) -> SignedCheckpoint:
    """Open a signed checkpoint: a log key must have signed it, under the checkpoint's origin.

    Witness cosignatures by *witness_keys* are verified too (a bad one fails the note).
    """
    logs = list(log_keys)
    note = open_note(data, [*logs, *witness_keys])
    checkpoint = parse_checkpoint_text(note.text)
    log_ids = {(v.name, v.key_id) for v in logs}
    signed_by_log = [v for v, _ in note.verified if (v.name, v.key_id) in log_ids]
    if not signed_by_log:
        raise NoteVerificationError("checkpoint is not signed by a known log key")
    if not any(v.name == checkpoint.origin for v in signed_by_log):
        raise NoteVerificationError(
            f"checkpoint origin {checkpoint.origin!r} does not match the log key name {signed_by_log[0].name!r}"
        )
    raw = data if isinstance(data, str) else data.decode("utf-8")
    return SignedCheckpoint(checkpoint, note, raw)


__all__ = ["MAX_TREE_SIZE", "Checkpoint", "SignedCheckpoint", "open_checkpoint", "parse_checkpoint_text"]
