"""Auditing a whole tiled log: recompute every tile from the entry bundles, check every
checkpoint's root and the consistency of each checkpoint with the next."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from attestkit.core.tlog.checkpoint import Checkpoint
from attestkit.core.tlog.merkle import consistency_proof, leaf_hash, tree_hash, verify_consistency
from attestkit.core.tlog.tiles import (
    TILE_WIDTH,
    TileHashSource,
    TileReader,
    decode_bundle,
    hashes_at_level,
    split_tile,
    tile_levels,
    tile_path,
    tile_root,
    tile_width,
)
from attestkit.errors import LogConsistencyError, LogCorruptError, MerkleProofError


@dataclass(frozen=True)
class AuditReport:
    """What an audit checked."""

    size: int
    root: bytes
    tiles: int
    bundles: int
    checkpoints: int


def audit_tiles(size: int, read: TileReader) -> AuditReport:
    """Recompute every tile of a tree of *size* from its entry bundles; return the root."""
    tiles = bundles = 0
    below: list[bytes] = []  # the roots of full tiles of the level being checked
    for level in range(max(1, tile_levels(size))):
        count = hashes_at_level(size, level)
        level_roots: list[bytes] = []
        for index in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            width = tile_width(size, level, index)
            where = tile_path(level, index, width)
            hashes = split_tile(read(level, index, width), width, where)
            tiles += 1
            if level == 0:
                bundle = tile_path(None, index, width)
                entries = decode_bundle(read(None, index, width), width, bundle)
                bundles += 1
                expected = [leaf_hash(e) for e in entries]
            else:
                expected = below[index * TILE_WIDTH : index * TILE_WIDTH + width]
            for position, (have, want) in enumerate(zip(hashes, expected, strict=True)):
                if have != want:
                    source = "entry" if level == 0 else "tile below"
                    raise LogCorruptError(f"{where}: hash {position} does not match its {source}")
            if width == TILE_WIDTH:
                level_roots.append(tile_root(hashes))
        below = level_roots
    root = tree_hash(TileHashSource(size, read), size)
    return AuditReport(size, root, tiles, bundles, 0)


def check_checkpoint_root(checkpoint: Checkpoint, read: TileReader) -> None:
    """The checkpoint's root must be the root the tiles give at its size."""
    root = tree_hash(TileHashSource(checkpoint.size, read), checkpoint.size)
    if root != checkpoint.root:
        raise LogCorruptError(f"checkpoint at size {checkpoint.size}: root hash does not match the tiles")


def check_consistent(old: Checkpoint, new: Checkpoint, read: TileReader) -> None:
    """Prove *old* consistent with *new* from the tiles of *new* and verify the proof."""
    if old.origin != new.origin:
        raise LogConsistencyError(f"checkpoints of two origins: {old.origin!r} and {new.origin!r}", kind="fork")
    if new.size < old.size:
        raise LogConsistencyError(f"rollback: size {new.size} follows size {old.size}", kind="rollback")
    if old.size == 0:
        return
    try:
        proof = consistency_proof(TileHashSource(new.size, read), old.size, new.size)
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except MerkleProofError as exc:
        raise LogConsistencyError(
            f"fork: checkpoint at size {old.size} is not consistent with the one at size {new.size} ({exc})",
            kind="fork",
        ) from None


def check_right_edge(old_size: int, size: int, read: TileReader) -> None:
    """Each partial tile and bundle of the tree of *old_size* must be a prefix of the tree of *size*'s.

    With *size*'s tiles recomputed, this makes every file an older checkpoint uses checked too.
    """
    level = 0
    while hashes_at_level(old_size, level) > 0:
        index = hashes_at_level(old_size, level) // TILE_WIDTH
        width = tile_width(old_size, level, index)
        if 0 < width < TILE_WIDTH:
            later = tile_width(size, level, index)
            for kind in (level, None) if level == 0 else (level,):
                old_data = read(kind, index, width)
                new_data = read(kind, index, later)
                if kind is None:
                    same = (
                        decode_bundle(old_data, width, tile_path(None, index, width))
                        == decode_bundle(new_data, later, tile_path(None, index, later))[:width]
                    )
                else:
                    same = (
                        split_tile(old_data, width, tile_path(level, index, width))
                        == split_tile(new_data, later, tile_path(level, index, later))[:width]
                    )
                if not same:
                    raise LogCorruptError(
                        f"{tile_path(kind, index, width)}: differs from the later {tile_path(kind, index, later)}"
                    )
        level += 1


def audit_log(size: int, checkpoints: Sequence[Checkpoint], read: TileReader) -> AuditReport:
    """Audit the tree of *size* and each checkpoint (sorted by size) against it and the next."""
    report = audit_tiles(size, read)
    ordered = sorted(checkpoints, key=lambda c: c.size)
    for checkpoint in ordered:
        if checkpoint.size > size:
            raise LogCorruptError(f"checkpoint at size {checkpoint.size} is beyond the log's {size} entries")
        check_checkpoint_root(checkpoint, read)
        check_right_edge(checkpoint.size, size, read)
    for old, new in itertools.pairwise(ordered):
        check_consistent(old, new, read)
    return AuditReport(report.size, report.root, report.tiles, report.bundles, len(ordered))


__all__ = ["AuditReport", "audit_log", "audit_tiles", "check_checkpoint_root", "check_consistent"]
