"""Checking the artifacts a receipt records against a directory on disk.

Nothing is opened by path below the artifacts directory: every recorded path is walked
component by component from directory fds, so a tree that changes during the check (a file
swapped for a symlink out of the tree, a directory for a link) gives a finding, not a file
from outside it. Every ``OSError`` on the way is a finding too (exit 1).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from attestkit.core.crypto.digest import (
    FILE_FLAGS,
    ManifestEntry,
    digest_of_manifest,
    files_map_digest,
    hash_fd,
    hash_file_hex,
    normalize_digest,
    tree_manifest_fd,
)
from attestkit.core.receipt.shape import unsafe_path_reason
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import HashingError


@dataclass(frozen=True)
class ArtifactFinding:
    """One artifact that is missing, different, or not safe to read (``step`` recorded it)."""

    path: str
    code: str
    message: str
    pointer: str
    expected: str | None = None
    actual: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class ArtifactHistory:
    """An earlier recorded state of a path that a later step recorded differently (not checked)."""

    path: str
    step: str
    pointer: str
    digest: str
    message: str


@dataclass(frozen=True)
class ArtifactReport:
    """What checking the artifacts found: ``findings`` (mismatches) and ``history`` (earlier states)."""

    findings: list[ArtifactFinding]
    history: list[ArtifactHistory]


#: Receipts declaring this format have their artifacts judged per step (docs/receipt-format.md).
PER_STEP_FORMAT = "attestkit/v2"


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_PATH = getattr(os, "O_PATH", 0)  # walk through directories we may search but not list
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_LIST_FLAGS = os.O_RDONLY | _O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | _O_CLOEXEC  # a recorded directory
_WALK_FLAGS = (_O_PATH or os.O_RDONLY) | _O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | _O_CLOEXEC  # its parents
_MAX_SYMLINKS = 40  # as the kernel's own limit (ELOOP)


class _Found(Exception):
    """A finding raised from inside the walk."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _changed(path: str, detail: str) -> _Found:
    return _Found("changed", f"{path}: changed while being checked ({detail}); check again on a quiet tree")


def _open_beneath(root_fd: int, root_real: str, path: str, want_dir: bool) -> int:
    """Open *path* below the directory on *root_fd*, one component at a time.

    Every component is looked at with ``lstat`` relative to its parent's fd and opened with
    ``O_NOFOLLOW``; the fd's ``fstat`` must be the object the ``lstat`` saw. A symlink on the
    way (or at the end) is resolved here, and followed only while it stays below the root
    (``..`` is taken from the directory fds, never from names). Returns a file fd (regular
    file, read-only, non-blocking) or a directory fd; raises :class:`_Found`.
    """
    # Long by design: every descriptor of the race-free walk stays under one try/finally so none leaks.
    pending = deque(part for part in path.rstrip("/").split("/") if part not in ("", "."))
    stack: list[int] = []  # directory fds below the root; the root fd is not ours to close
    hops = 0
    try:
        while pending:
            name = pending.popleft()
            current = stack[-1] if stack else root_fd
            if name == "..":
                if not stack:
                    raise _Found("escapes-tree", f"{path}: resolves through a symlink outside the artifacts directory")
                os.close(stack.pop())
                continue
            try:
                info = os.stat(name, dir_fd=current, follow_symlinks=False)
            except FileNotFoundError:
                raise _Found("missing", f"{path}: missing from the artifacts directory") from None
            if stat.S_ISLNK(info.st_mode):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise _Found("symlink-loop", f"{path}: more than {_MAX_SYMLINKS} symlinks to follow")
                try:
                    target = os.readlink(name, dir_fd=current)
                except OSError as exc:
                    raise _changed(path, f"a symlink vanished: {exc.strerror}") from None
                if target.startswith("/"):
                    if target != root_real and not target.startswith(root_real.rstrip("/") + "/"):
                        raise _Found(
                            "escapes-tree", f"{path}: resolves through a symlink outside the artifacts directory"
                        )
                    while stack:
                        os.close(stack.pop())
                    target = target[len(root_real) :]
                pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            last = not pending
            if not last or want_dir:
                if not stat.S_ISDIR(info.st_mode):
                    if last:
                        raise _Found("wrong-kind", f"{path}: expected a directory")
                    raise _Found("missing", f"{path}: missing from the artifacts directory")
                flags = _LIST_FLAGS if last else _WALK_FLAGS
            elif stat.S_ISDIR(info.st_mode):
                raise _Found("wrong-kind", f"{path}: expected a file")
            elif not stat.S_ISREG(info.st_mode):
                raise _Found("special-file", f"{path}: not a regular file")
            else:
                flags = FILE_FLAGS
            try:
                fd = os.open(name, flags, dir_fd=current)
            except OSError as exc:
                if isinstance(exc, (FileNotFoundError, NotADirectoryError)) or exc.errno == errno.ELOOP:
                    raise _changed(path, f"{name} was replaced") from None
                raise
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
                os.close(fd)
                raise _changed(path, f"{name} was replaced")
            if last:
                return fd
            stack.append(fd)
        # Every component was consumed by directories: the path names a directory on the stack.
        if not want_dir:
            raise _Found("wrong-kind", f"{path}: expected a file")
        return os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=stack[-1] if stack else root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def _check_one(
    root_fd: int,
    root_real: str,
    entry: Mapping[str, Any],
    pointer: str,
    cache: dict[tuple[bool, int, int], tuple[str, int] | HashingError],
    manifests: dict[tuple[bool, int, int], list[ManifestEntry]],
) -> ArtifactFinding | None:
    # Long by design: one branch per finding code, in the order they are decided.
    path = entry["path"]
    expected = normalize_digest(entry["hash"])
    reason = unsafe_path_reason(path)
    if reason is not None:
        return ArtifactFinding(path, "unsafe-path", f"{path}: {reason}", pointer)
    is_dir = path.endswith("/")
    try:
        fd = _open_beneath(root_fd, root_real, path, is_dir)
    except _Found as found:
        return ArtifactFinding(path, found.code, found.message, pointer, expected)
    except OSError as exc:
        return ArtifactFinding(path, "unreadable", f"{path}: cannot read: {exc.strerror}", pointer, expected)
    try:
        info = os.fstat(fd)
        key = (is_dir, info.st_dev, info.st_ino)
        result = cache.get(key)
        if result is None:
            try:
                if is_dir:
                    entries = tree_manifest_fd(fd, path)
                    manifests[key] = entries
                    result = digest_of_manifest(entries), sum(e.size for e in entries)
                else:
                    result = "blake3:" + hash_fd(fd, info.st_size, path), info.st_size
            except HashingError as exc:
                result = exc
            cache[key] = result
    except OSError as exc:
        return ArtifactFinding(path, "unreadable", f"{path}: cannot read: {exc.strerror}", pointer, expected)
    finally:
        os.close(fd)
    if isinstance(result, HashingError):
        message = result.message if result.message.startswith(path) else f"{path}: {result.message}"
        return ArtifactFinding(path, exc_code(result), message, pointer, expected)
    actual, size = result
    if actual != expected:
        detail = _tree_difference(entry.get("files"), manifests.get(key)) if is_dir else ""
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
    files = entry.get("files")
    if is_dir and isinstance(files, Mapping) and files_map_digest(files) != expected:
        # The digest matched, but the per-file digests a summary or export would name did not:
        # they are recorded digests too, and nobody checked them.
        detail = _tree_difference(files, manifests.get(key))
        return ArtifactFinding(
            path, "files-mismatch", f"{path}: the recorded files map is not what the directory holds{detail}", pointer
        )
    return None


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


@dataclass(frozen=True)
class _Record:
    entry: Mapping[str, Any]
    step: str
    kind: str  # "input" or "output"
    pointer: str
    order: tuple[Any, ...]


def _step_label(step: Mapping[str, Any], index: int) -> str:
    name = step.get("name")
    return name if isinstance(name, str) else f"#{index + 1}"


def _step_times(steps: list[Mapping[str, Any]]) -> list[tuple[datetime, datetime]] | None:
    """Each step's (start, end), or ``None`` when any step lacks an RFC 3339 time."""
    times = []
    for step in steps:
        try:
            times.append((parse_rfc3339(str(step.get("start_time"))), parse_rfc3339(str(step.get("end_time")))))
        except ValueError:
            return None
    return times


def _records(receipt: Mapping[str, Any], fields: tuple[str, ...]) -> list[_Record]:
    """Every checked artifact entry, with the moment its state was recorded.

    Inputs are recorded when their step starts and outputs when it ends; when every step has
    RFC 3339 ``start_time`` and ``end_time`` those times order the records (steps of a DAG run
    in parallel, in any file order), else the receipt's order does (inputs before outputs).
    """
    steps = [(i, s) for i, s in enumerate(receipt.get("steps") or []) if isinstance(s, Mapping)]
    times = _step_times([s for _, s in steps])
    records: list[_Record] = []
    for number, (index, step) in enumerate(steps):
        for field in fields:
            kind = field[:-1]
            for position, entry in enumerate(step.get(field) or []):
                moment: tuple[Any, ...] = ()
                if times is not None:
                    start, end = times[number]
                    moment = (start if kind == "input" else end,)
                pointer = f"/steps/{index}/{field}/{position}"
                records.append(_Record(entry, _step_label(step, index), kind, pointer, (*moment, len(records))))
    return records


def _latest_per_path(records: list[_Record]) -> tuple[list[_Record], list[ArtifactHistory]]:
    """Each path's last recorded state (to check) and its differing earlier states (history)."""
    by_path: dict[str, list[_Record]] = {}
    for record in records:
        by_path.setdefault(str(record.entry.get("path")), []).append(record)
    latest: list[_Record] = []
    history: list[ArtifactHistory] = []
    for path, group in by_path.items():
        group.sort(key=lambda r: r.order)
        last = group[-1]
        latest.append(last)
        final = normalize_digest(str(last.entry.get("hash")))
        for earlier in group[:-1]:
            digest = normalize_digest(str(earlier.entry.get("hash")))
            if digest != final:
                message = (
                    f"step {earlier.step!r} {earlier.kind} {path}: recorded {digest}; step {last.step!r} later"
                    f" recorded it as {last.kind} {final}, the state checked (history, not a mismatch)"
                )
                history.append(ArtifactHistory(path, earlier.step, earlier.pointer, digest, message))
    latest.sort(key=lambda r: r.order[-1])
    history.sort(key=lambda h: h.pointer)
    return latest, history


def check_artifacts_report(receipt: Mapping[str, Any], directory: str, *, check_inputs: bool = False) -> ArtifactReport:
    """Findings for every recorded output (and input) that does not match *directory*, naming the step.

    A receipt declaring ``receipt_format: attestkit/v2`` is judged per step: each path is
    checked against its *last* recorded state, and earlier states that differ (an input a
    later step changed, an output a later step rewrote) are reported as ``history``. Other
    receipts have every recorded entry checked, as the contract says.

    Race-free: each path is walked from a directory fd (see :func:`_open_beneath`) and
    hashed from the fd it opened, so swapping files and symlinks meanwhile yields a
    finding, never a file outside *directory*. Raises :class:`HashingError` only when
    *directory* itself cannot be opened (could not check).
    """
    fields = ("inputs", "outputs") if check_inputs else ("outputs",)
    records = _records(receipt, fields)
    history: list[ArtifactHistory] = []
    if receipt.get("receipt_format") == PER_STEP_FORMAT:
        records, history = _latest_per_path(records)
    else:
        records.sort(key=lambda r: r.order[-1])
    try:
        root_fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        message = f"{directory}: cannot open the artifacts directory: {exc.strerror}"
        raise HashingError(message, code="unreadable") from None
    try:
        root_real = os.path.realpath(directory)
        findings: list[ArtifactFinding] = []
        cache: dict[tuple[bool, int, int], tuple[str, int] | HashingError] = {}
        manifests: dict[tuple[bool, int, int], list[ManifestEntry]] = {}
        for record in records:
            finding = _check_one(root_fd, root_real, record.entry, record.pointer, cache, manifests)
            if finding is not None:
                message = f"step {record.step!r} {record.kind} {finding.message}"
                findings.append(replace(finding, message=message, step=record.step))
        return ArtifactReport(findings, history)
    finally:
        os.close(root_fd)


def check_artifacts(receipt: Mapping[str, Any], directory: str, *, check_inputs: bool = False) -> list[ArtifactFinding]:
    """The findings of :func:`check_artifacts_report` (mismatches only)."""
    return check_artifacts_report(receipt, directory, check_inputs=check_inputs).findings


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


__all__ = [
    "PER_STEP_FORMAT",
    "ArtifactFinding",
    "ArtifactHistory",
    "ArtifactReport",
    "check_artifacts",
    "check_artifacts_report",
    "check_pipeline",
]
