"""Structural rules for receipt fields (types, digests, safe artifact paths)."""

from __future__ import annotations

import re
from binascii import Error as _HexError
from binascii import unhexlify
from datetime import datetime
from typing import Any

from attestkit.core.textsafe import shown_key
from attestkit.core.timeutil import parse_rfc3339
from attestkit.errors import MalformedReceiptError

DIGEST_RE = re.compile(r"blake3:[0-9a-fA-F]{64}\Z")


def unsafe_path_reason(path: str) -> str | None:
    """Why *path* may not name an artifact inside a tree, or ``None`` when it is safe."""
    # Plain substring tests: this runs for every recorded artifact of every receipt.
    if not path:
        return "empty path"
    if "\x00" in path:
        return "NUL byte in path"
    if "\\" in path:
        return "backslash in path"
    if path[0] == "/":
        return "absolute path"
    if len(path) > 1 and path[1] == ":" and path[0].isascii() and path[0].isalpha():
        return "drive letter in path"
    if ".." in path and ".." in path.split("/"):
        return "'..' component in path"
    return None


def _fail(message: str, source: str, pointer: str, code: str = "schema") -> MalformedReceiptError:
    return MalformedReceiptError(message, source=source, where=pointer, code=code)


def _check_files(files: Any, path: str, source: str, pointer: str) -> None:
    if not path.endswith("/") or not isinstance(files, dict):
        raise _fail("files must be an object of relpath -> digest on a directory entry", source, pointer)
    for rel, digest in files.items():
        reason = unsafe_path_reason(rel)
        if reason is not None or rel.endswith("/"):
            raise _fail(f"unsafe file path {shown_key(rel)} in files", source, pointer, "unsafe-path")
        if not isinstance(digest, str) or not DIGEST_RE.match(digest):
            raise _fail(f"files[{shown_key(rel)}] must be blake3:<64 hex>", source, pointer, "digest-format")


def _check_artifacts(entries: Any, source: str, pointer: str) -> None:
    if not isinstance(entries, list):
        raise _fail("must be an array", source, pointer)
    for index, entry in enumerate(entries):
        here = f"{pointer}/{index}"
        if not isinstance(entry, dict):
            raise _fail("artifact entry must be an object", source, here)
        path = entry.get("path")
        if not isinstance(path, str):
            raise _fail("artifact path must be a string", source, here + "/path")
        reason = unsafe_path_reason(path)
        if reason is not None:
            raise _fail(f"unsafe artifact path {shown_key(path)}: {reason}", source, here + "/path", "unsafe-path")
        digest = entry.get("hash")
        if not isinstance(digest, str) or not DIGEST_RE.match(digest):
            raise _fail("artifact hash must be blake3:<64 hex>", source, here + "/hash", "digest-format")
        files = entry.get("files")
        if files is not None:
            _check_files(files, path, source, here + "/files")
        size = entry.get("size_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise _fail("size_bytes must be a non-negative integer", source, here + "/size_bytes")


def _artifacts_look_fine(steps: list[Any]) -> bool:
    """A quick sufficient test that every step and artifact passes the checks below.

    ``False`` proves nothing (the precise checks then run and name the first rule broken); it is
    returned for anything unusual, e.g. a ``files`` member or a ``:`` or ``..`` in a path. ``True``
    implies each rule: exact types, digests of 71 characters starting ``blake3:`` whose 64-digit
    tails are all hex (tested in one ``unhexlify``), and paths that are non-empty, hold no NUL,
    backslash, colon (drive letter) or ``..``, and do not start with ``/`` (tested on the paths
    joined by NUL, which no path may contain).
    """
    paths: list[str] = []
    tails: list[str] = []
    for step in steps:
        if type(step) is not dict:
            return False
        exit_code = step.get("exit_code")
        if exit_code is not None and type(exit_code) is not int:
            return False
        for name in ("inputs", "outputs"):
            entries = step.get(name)
            if type(entries) is not list:
                if entries is None and name not in step:
                    continue
                return False
            for entry in entries:
                if type(entry) is not dict or "files" in entry:
                    return False
                path = entry.get("path")
                digest = entry.get("hash")
                size = entry.get("size_bytes")
                if type(path) is not str or type(digest) is not str or len(digest) != 71 or digest[:7] != "blake3:":
                    return False
                if size is not None and (type(size) is not int or size < 0):
                    return False
                paths.append(path)
                tails.append(digest[7:])
    if not paths:
        return True
    joined = "\x00".join(paths)
    if (
        joined.count("\x00") != len(paths) - 1
        or "\x00\x00" in joined
        or not joined
        or joined[0] in "\x00/"
        or joined[-1] == "\x00"
        or "\x00/" in joined
        or "\\" in joined
        or ":" in joined
        or ".." in joined
    ):
        return False
    try:
        unhexlify("".join(tails))
    except (_HexError, ValueError):
        return False
    return True


def check_receipt_shape(data: dict[str, Any], source: str) -> datetime:
    """The receipt's parsed timestamp; :class:`MalformedReceiptError` when a field has the wrong type or form."""
    if data.get("type") == "attestkit/delegation/v1":
        raise _fail("a delegation statement is not a receipt", source, "/type", "not-a-receipt")
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, str):
        raise _fail("timestamp is required and must be an RFC 3339 string", source, "/timestamp")
    try:
        moment = parse_rfc3339(timestamp)
    except ValueError as exc:
        raise _fail(str(exc), source, "/timestamp", "timestamp-format") from None
    pipeline_hash = data.get("pipeline_hash")
    if pipeline_hash is not None and (not isinstance(pipeline_hash, str) or not DIGEST_RE.match(pipeline_hash)):
        raise _fail("pipeline_hash must be blake3:<64 hex>", source, "/pipeline_hash", "digest-format")
    for name in ("signer", "signer_public_key", "signature_algorithm"):
        if name in data and not isinstance(data[name], str):
            raise _fail(f"{name} must be a string", source, f"/{name}")
    steps = data.get("steps")
    if steps is not None:
        if not isinstance(steps, list):
            raise _fail("steps must be an array", source, "/steps")
        if type(steps) is list and _artifacts_look_fine(steps):
            steps = []  # every rule below holds
        for index, step in enumerate(steps):
            here = f"/steps/{index}"
            if not isinstance(step, dict):
                raise _fail("step must be an object", source, here)
            exit_code = step.get("exit_code")
            if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
                raise _fail("exit_code must be an integer", source, here + "/exit_code")
            for field in ("inputs", "outputs"):
                if field in step:
                    _check_artifacts(step[field], source, f"{here}/{field}")
    attestations = data.get("attestations")
    if attestations is not None and not isinstance(attestations, dict):
        raise _fail("attestations must be an object", source, "/attestations")
    if "receipt_format" in data:
        _check_format_rules(data, source)
    return moment


RECEIPT_FORMATS = ("attestkit/v2",)


def _check_format_rules(data: dict[str, Any], source: str) -> None:
    """Rules a receipt opts into with ``receipt_format`` (receipts without it are unchanged)."""
    declared = data["receipt_format"]
    if declared not in RECEIPT_FORMATS:
        shown = repr(declared)[:80]
        raise _fail(f"receipt_format {shown} is not one attestkit knows ({', '.join(RECEIPT_FORMATS)})",
                    source, "/receipt_format", "receipt-format")  # fmt: skip
    if "run_id" in data and (not isinstance(data["run_id"], str) or not data["run_id"]):
        raise _fail("run_id must be a non-empty string", source, "/run_id")
    seen: set[str] = set()
    for index, step in enumerate(data.get("steps") or []):
        name = step.get("name")
        if not isinstance(name, str):
            raise _fail("step name must be a string (receipt_format attestkit/v2)", source, f"/steps/{index}/name")
        if name in seen:
            raise _fail(f"step name {shown_key(name)} repeats an earlier step's (receipt_format attestkit/v2: one step per name)",
                        source, f"/steps/{index}/name", "duplicate-step")  # fmt: skip
        seen.add(name)


__all__ = ["DIGEST_RE", "check_receipt_shape", "unsafe_path_reason"]
