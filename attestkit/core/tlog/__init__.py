"""Transparency logs in the C2SP formats, as pure code (no file or network I/O).

The public face: signed notes (:mod:`.note`), checkpoints (:mod:`.checkpoint`), RFC 9162
Merkle proofs over SHA-256 (:mod:`.merkle`), tlog-tiles math and entry bundles
(:mod:`.tiles`), ``.tlog-proof`` files (:mod:`.proof`), witness policies and proof
verification (:mod:`.policy`), witness decisions (:mod:`.witness`), whole-log audits
(:mod:`.audit`) and attestkit's receipt entry format (:mod:`.entry`, imported on demand
because it needs BLAKE3).
"""

from __future__ import annotations

from attestkit.core.tlog.audit import AuditReport, audit_log, audit_tiles, check_consistent
from attestkit.core.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, parse_checkpoint_text
from attestkit.core.tlog.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from attestkit.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Note,
    Signer,
    Verifier,
    open_note,
    parse_skey,
    parse_vkey,
    sign_note,
    signer_from_key,
)
from attestkit.core.tlog.policy import Policy, ProofResult, parse_policy, verify_proof
from attestkit.core.tlog.proof import TlogProof, make_tlog_proof, parse_tlog_proof
from attestkit.core.tlog.tiles import (
    MAX_ENTRY_BYTES,
    TILE_WIDTH,
    TileHashSource,
    append_tiles,
    decode_bundle,
    encode_bundle,
    tile_path,
)
from attestkit.core.tlog.witness import add_checkpoint, check_update, cosign

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "EMPTY_ROOT",
    "MAX_ENTRY_BYTES",
    "TILE_WIDTH",
    "AuditReport",
    "Checkpoint",
    "MemoryTree",
    "Note",
    "Policy",
    "ProofResult",
    "SignedCheckpoint",
    "Signer",
    "TileHashSource",
    "TlogProof",
    "Verifier",
    "add_checkpoint",
    "append_tiles",
    "audit_log",
    "audit_tiles",
    "check_consistent",
    "check_update",
    "consistency_proof",
    "cosign",
    "decode_bundle",
    "encode_bundle",
    "inclusion_proof",
    "leaf_hash",
    "make_tlog_proof",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint_text",
    "parse_policy",
    "parse_skey",
    "parse_tlog_proof",
    "parse_vkey",
    "root_of",
    "sign_note",
    "signer_from_key",
    "tile_path",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_proof",
]
