"""Subjects hashed from the artifacts on disk: ``sha256`` (what other tools match) and ``blake3``.

The receipt's blake3 digests come first: every recorded output is checked against the
directory (:func:`attestkit.core.verify.artifacts.check_artifacts`) and then each file is read
once more, computing blake3 and sha256 from the same bytes, so the sha256 written is of the
file whose blake3 the receipt records (a file changed in between is refused, not described).
A directory output becomes one subject per entry of its manifest: a regular file with sha256
and blake3, a symbolic link with its link digest only (blake3 of ``symlink:`` + target, as in
the manifest: it has no content of its own); an empty directory is named by itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestkit.core.crypto.digest import digest_of_manifest, normalize_digest, tree_manifest_fd
from attestkit.errors import ArtifactError, HashingError

_CHUNK = 1 << 20
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refuse(message: str) -> ArtifactError:
    return ArtifactError(f"not exported: {message}", code="export-artifacts")


def _both_digests(fd: int, shown: str) -> tuple[str, str]:
    """(blake3 hex, sha256 hex) of the file open on *fd*, from one read of its bytes."""
    from blake3 import blake3

    b3 = blake3()
    sha = hashlib.sha256()
    try:
        while chunk := os.read(fd, _CHUNK):
            b3.update(chunk)
            sha.update(chunk)
    except OSError as exc:
        raise HashingError(f"{shown}: read failed: {exc.strerror}", code="unreadable") from None
    return b3.hexdigest(), sha.hexdigest()


def _open(root_fd: int, root_real: str, path: str, want_dir: bool) -> int:
    from attestkit.core.verify.artifacts import _Found, _open_beneath  # the race-free walk, shared

    try:
        return _open_beneath(root_fd, root_real, path, want_dir)
    except _Found as found:
        raise _refuse(found.message) from None
    except OSError as exc:
        raise HashingError(f"{path}: cannot read: {exc.strerror}", code="unreadable") from None


def _file_subject(root_fd: int, root_real: str, path: str, recorded: str) -> dict[str, str]:
    fd = _open(root_fd, root_real, path, False)
    try:
        b3, sha = _both_digests(fd, path)
    finally:
        os.close(fd)
    if "blake3:" + b3 != recorded:
        raise _refuse(f"{path}: changed while it was hashed (blake3 {b3}, recorded {recorded})")
    return {"sha256": sha, "blake3": b3}


def _directory_subjects(root_fd: int, root_real: str, output: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    path = output["path"]
    recorded = normalize_digest(output["hash"])
    dir_fd = _open(root_fd, root_real, path, True)
    try:
        entries = tree_manifest_fd(dir_fd, path)
        if digest_of_manifest(entries) != recorded:
            raise _refuse(f"{path}: changed while it was hashed")
        files = output.get("files")
        if isinstance(files, Mapping):
            on_disk = {e.relpath: "blake3:" + e.hexdigest for e in entries}
            if {rel: normalize_digest(d) for rel, d in files.items()} != on_disk:
                raise _refuse(f"{path}: the receipt's files map disagrees with its own directory digest")
        real = os.path.join(root_real, path.rstrip("/"))
        subjects: dict[str, dict[str, str]] = {}
        for entry in entries:
            if entry.is_symlink:  # no content to digest: named by its link digest, as the manifest has it
                subjects[path + entry.relpath] = {"blake3": entry.hexdigest}
            else:
                subjects[path + entry.relpath] = _file_subject(dir_fd, real, entry.relpath, "blake3:" + entry.hexdigest)
        if not subjects:
            subjects[path] = {"blake3": recorded[len("blake3:") :]}
        return subjects
    finally:
        os.close(dir_fd)


def artifact_subjects(receipt: Mapping[str, Any], directory: str) -> dict[str, dict[str, str]]:
    """Subject name -> ``{"sha256", "blake3"}`` for every recorded output, hashed under *directory*.

    Raises :class:`ArtifactError` (exit 1, code ``export-artifacts``) when an output is missing
    or differs from the receipt, and :class:`HashingError` (exit 2) when *directory* cannot be read.
    """
    from attestkit.core.verify.artifacts import check_artifacts

    findings = check_artifacts(receipt, directory)
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise _refuse(f"{directory}: {findings[0].message}{more}")
    try:
        root_fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        raise HashingError(f"{directory}: cannot open the artifacts directory: {exc.strerror}") from None
    try:
        root_real = os.path.realpath(directory)
        subjects: dict[str, dict[str, str]] = {}
        done: set[str] = set()
        for step in receipt.get("steps") or []:
            for output in step.get("outputs") or []:
                path = output["path"]
                if path in done:
                    continue
                done.add(path)
                if path.endswith("/"):
                    subjects.update(_directory_subjects(root_fd, root_real, output))
                else:
                    subjects[path] = _file_subject(root_fd, root_real, path, normalize_digest(output["hash"]))
        return subjects
    finally:
        os.close(root_fd)


@dataclass(frozen=True)
class SubjectFinding:
    """A statement subject whose digest differs from the file in the artifacts directory."""

    name: str
    code: str
    message: str


def subject_findings(subjects: Any, directory: str) -> list[SubjectFinding]:
    """Subjects whose ``sha256``/``sha512``/``blake3`` differ from the files under *directory*.

    The receipt's own digests are checked by ``verify --artifacts`` already; this checks what
    the statement adds for other tools (a sha256 that does not describe the file would mislead
    every consumer that matches sha256). Directory subjects (``dist/``) and files that are
    absent are left to the receipt's artifact check; one read per file covers every digest.
    """
    wanted = [
        (s["name"], {k: str(v).lower() for k, v in s["digest"].items() if k in _ALGORITHMS})
        for s in subjects
        if isinstance(s, Mapping) and isinstance(s.get("name"), str) and isinstance(s.get("digest"), Mapping)
    ]
    # Only subjects that add a digest the receipt lacks: their blake3 alone is the receipt's business.
    wanted = [(n, d) for n, d in wanted if ("sha256" in d or "sha512" in d) and not n.endswith("/")]
    if not wanted:
        return []
    from attestkit.core.verify.artifacts import _Found, _open_beneath

    try:
        root_fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        raise HashingError(f"{directory}: cannot open the artifacts directory: {exc.strerror}") from None
    findings: list[SubjectFinding] = []
    try:
        root_real = os.path.realpath(directory)
        for name, digest in wanted:
            try:
                fd = _open_beneath(root_fd, root_real, name, False)
            except _Found as found:
                if found.code != "missing":
                    findings.append(SubjectFinding(name, found.code, found.message))
                continue
            try:
                actual = _digests(fd, name, set(digest))
            finally:
                os.close(fd)
            for algorithm, hex_ in digest.items():
                if actual[algorithm] != hex_:
                    findings.append(
                        SubjectFinding(
                            name,
                            "subject-mismatch",
                            f"{name}: the statement's {algorithm} {hex_} is not the file's {actual[algorithm]}",
                        )
                    )
    finally:
        os.close(root_fd)
    return findings


_ALGORITHMS = ("sha256", "sha512", "blake3")


def _digests(fd: int, shown: str, algorithms: set[str]) -> dict[str, str]:
    from blake3 import blake3

    hashers: dict[str, Any] = {
        "sha256": hashlib.sha256(),
        "sha512": hashlib.sha512(),
        "blake3": blake3(),
    }
    chosen = {name: hashers[name] for name in algorithms}
    try:
        while chunk := os.read(fd, _CHUNK):
            for hasher in chosen.values():
                hasher.update(chunk)
    except OSError as exc:
        raise HashingError(f"{shown}: read failed: {exc.strerror}", code="unreadable") from None
    return {name: hasher.hexdigest() for name, hasher in chosen.items()}


__all__ = ["SubjectFinding", "artifact_subjects", "subject_findings"]
