"""``.tlog-proof`` files (c2sp.org/tlog-proof): index, inclusion proof and checkpoint in one file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from attestkit.core.tlog.merkle import HASH_SIZE, MAX_PROOF_HASHES
from attestkit.core.tlog.note import MAX_NOTE_BYTES, b64decode, b64encode
from attestkit.errors import MerkleProofError

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})\Z")
MAX_PROOF_FILE_BYTES = MAX_NOTE_BYTES + 16 * 1024
MAX_EXTRA_BYTES = 8 * 1024


@dataclass(frozen=True)
class TlogProof:
    """A parsed tlog proof; the checkpoint is kept verbatim and opened by the verifier."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def encode(self) -> str:
        """The file's text."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64encode(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64encode(h) for h in self.proof]
        return "".join(line + "\n" for line in lines) + "\n" + self.checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a ``.tlog-proof``; raises :class:`MerkleProofError` naming the rule broken."""
    if len(data) > MAX_PROOF_FILE_BYTES:
        raise MerkleProofError(f"tlog proof is larger than {MAX_PROOF_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MerkleProofError("tlog proof is not valid UTF-8") from None
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise MerkleProofError("tlog proof has no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MerkleProofError(f"tlog proof must start with {HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        try:
            extra = b64decode(rest[0][6:], "extra data")
        except ValueError:
            raise MerkleProofError("tlog proof extra line is not standard base64") from None
        if len(extra) > MAX_EXTRA_BYTES:
            raise MerkleProofError("tlog proof extra data is too large")
        rest = rest[1:]
    if not rest:
        raise MerkleProofError("tlog proof has no index line")
    match = _INDEX.match(rest[0])
    if match is None:
        raise MerkleProofError("tlog proof index line must be 'index N' with N decimal, no leading zeroes")
    hashes: list[bytes] = []
    for number, line in enumerate(rest[1:], start=1):
        try:
            value = b64decode(line, "proof hash")
        except ValueError:
            raise MerkleProofError(f"tlog proof hash line {number} is not standard base64") from None
        if len(value) != HASH_SIZE:
            raise MerkleProofError(f"tlog proof hash line {number} is {len(value)} bytes, not {HASH_SIZE}")
        hashes.append(value)
    if len(hashes) > MAX_PROOF_HASHES:
        raise MerkleProofError("tlog proof has too many hash lines")
    return TlogProof(int(match.group(1)), tuple(hashes), checkpoint, extra)


def make_tlog_proof(index: int, proof: Sequence[bytes], checkpoint: str, extra: bytes | None = None) -> str:
    """The text of a ``.tlog-proof`` for entry *index*."""
    return TlogProof(index, tuple(proof), checkpoint, extra).encode()


__all__ = ["HEADER", "MAX_PROOF_FILE_BYTES", "TlogProof", "make_tlog_proof", "parse_tlog_proof"]
