"""Checking the artifacts a receipt records against a directory on disk."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestkit.core.digest import ManifestEntry, digest_of_manifest, hash_file_hex, normalize_digest, tree_manifest
from attestkit.core.receipt_shape import unsafe_path_reason
from attestkit.errors import HashingError


@dataclass(frozen=True)
class ArtifactFinding:
    """One artifact that is missing, different, or not safe to read."""

    path: str
    code: str
    message: str
    pointer: str
    expected: str | None = None
    actual: str | None = None


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _check_one(
    root: str,
    root_real: str,
    entry: Mapping[str, Any],
    pointer: str,
    cache: dict[str, tuple[str, int] | HashingError],
    manifests: dict[str, list[ManifestEntry]],
) -> ArtifactFinding | None:
    path = entry["path"]
    expected = normalize_digest(entry["hash"])
    reason = unsafe_path_reason(path)
    if reason is not None:
        return ArtifactFinding(path, "unsafe-path", f"{path}: {reason}", pointer)
    is_dir = path.endswith("/")
    relative = path.rstrip("/")
    target = os.path.join(root, relative) if relative not in ("", ".") else root
    if not _inside(os.path.realpath(target), root_real):
        return ArtifactFinding(
            path, "escapes-tree", f"{path}: resolves through a symlink outside the artifacts directory", pointer
        )
    if not os.path.lexists(target):
        return ArtifactFinding(path, "missing", f"{path}: missing from the artifacts directory", pointer, expected)
    if is_dir != os.path.isdir(target):
        kind = "a directory" if is_dir else "a file"
        return ArtifactFinding(path, "wrong-kind", f"{path}: expected {kind}", pointer, expected)
    result = cache.get(target)
    if result is None:
        try:
            result = _tree_digest(target, manifests) if is_dir else _file_digest(target)
        except HashingError as exc:
            result = exc
        cache[target] = result
    if isinstance(result, HashingError):
        return ArtifactFinding(path, exc_code(result), f"{path}: {result.message}", pointer, expected)
    actual, size = result
    if actual != expected:
        detail = _tree_difference(entry.get("files"), manifests.get(target)) if is_dir else ""
        return ArtifactFinding(
            path,
            "digest-mismatch",
            f"{path}: digest {actual} does not match the recorded {expected}{detail}",
            pointer,
            expected,
            actual,
        )
    recorded_size = entry.get("size_bytes")
    if isinstance(recorded_size, int) and recorded_size != size:
        return ArtifactFinding(
            path,
            "size-mismatch",
            f"{path}: size {size} bytes does not match the recorded {recorded_size}",
            pointer,
            expected,
            actual,
        )
    return None


def _tree_digest(target: str, manifests: dict[str, list[ManifestEntry]]) -> tuple[str, int]:
    entries = tree_manifest(target)
    manifests[target] = entries
    return digest_of_manifest(entries), sum(e.size for e in entries)


def _tree_difference(recorded: Any, entries: list[ManifestEntry] | None, limit: int = 5) -> str:
    """' (added: a; removed: b; changed: c)' from a recorded files map, when there is one."""
    if not isinstance(recorded, Mapping) or entries is None:
        return " (record a 'files' map on the entry to see which files differ)"
    actual = {e.relpath: "blake3:" + e.hexdigest for e in entries}
    expected = {rel: normalize_digest(d) for rel, d in recorded.items()}
    added = sorted(set(actual) - set(expected), key=str.encode)
    removed = sorted(set(expected) - set(actual), key=str.encode)
    changed = sorted((r for r in set(actual) & set(expected) if actual[r] != expected[r]), key=str.encode)
    parts = []
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            more = f" and {len(names) - limit} more" if len(names) > limit else ""
            parts.append(f"{label}: {', '.join(names[:limit])}{more}")
    return f" ({'; '.join(parts)})" if parts else ""


def exc_code(error: HashingError) -> str:
    """The finding code for a hashing failure."""
    return error.code if error.code != "hashing" else "unreadable"


def _file_digest(path: str) -> tuple[str, int]:
    hexdigest, size = hash_file_hex(path)
    return "blake3:" + hexdigest, size


def check_artifacts(receipt: Mapping[str, Any], directory: str, *, check_inputs: bool = False) -> list[ArtifactFinding]:
    """Findings for every recorded output (and input) that does not match *directory*."""
    root_real = os.path.realpath(directory)
    findings: list[ArtifactFinding] = []
    cache: dict[str, tuple[str, int] | HashingError] = {}
    manifests: dict[str, list[ManifestEntry]] = {}
    fields = ("inputs", "outputs") if check_inputs else ("outputs",)
    steps = receipt.get("steps") or []
    for index, step in enumerate(steps):
        for field in fields:
            for position, entry in enumerate(step.get(field) or []):
                finding = _check_one(
                    directory, root_real, entry, f"/steps/{index}/{field}/{position}", cache, manifests
                )
                if finding is not None:
                    findings.append(finding)
    return findings


def check_pipeline(receipt: Mapping[str, Any], pipeline_file: str) -> ArtifactFinding | None:
    """A finding when *pipeline_file*'s digest differs from ``pipeline_hash``.

    Raises :class:`HashingError` when the file cannot be read (could not check).
    """
    recorded = receipt.get("pipeline_hash")
    if not isinstance(recorded, str):
        return ArtifactFinding(pipeline_file, "no-pipeline-hash", "receipt has no pipeline_hash", "/pipeline_hash")
    actual = "blake3:" + hash_file_hex(pipeline_file)[0]
    expected = normalize_digest(recorded)
    if actual != expected:
        return ArtifactFinding(
            pipeline_file,
            "pipeline-mismatch",
            f"pipeline file {pipeline_file} has digest {actual}, the receipt records {expected}",
            "/pipeline_hash",
            expected,
            actual,
        )
    return None


__all__ = ["ArtifactFinding", "check_artifacts", "check_pipeline"]
