"""The in-toto Statement v1 around a receipt: subjects, the tolerant subject check, key ids.

Subjects name the receipt's recorded outputs: a file output is one subject, a directory
output (``dist/``) is one subject per file it holds when those are known (its ``files`` map,
or the artifacts on disk), else the directory itself with its manifest digest. ``blake3`` is
always present; ``sha256`` only when the artifacts were hashed (:mod:`.subjects`).

Reading statements others wrote is tolerant where the meaning is unchanged (subject order,
extra digest algorithms, extra subject fields, upper-case hex, integral doubles from protobuf
``Struct``) and strict where it is not (a subject the receipt does not record, a recorded
output left out, a blake3 that differs): :func:`subject_problem` says which.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from attestkit.core.crypto.canonical import canonicalize
from attestkit.core.crypto.digest import files_map_digest, normalize_digest
from attestkit.core.crypto.keys import PublicKey
from attestkit.core.receipt.shape import unsafe_path_reason

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128, "blake3": 64, "sha1": 40, "gitCommit": 40}
_SAFE_INTEGER = 2**53 - 1


def intoto_key_id(key: PublicKey) -> str:
    """The key id securesystemslib and in-toto compute for an Ed25519 key.

    SHA-256 of the canonical JSON of ``{"keytype": "ed25519", "keyval": {"public": <hex>},
    "scheme": "ed25519"}`` (securesystemslib ``compute_default_keyid``), as hex.
    """
    text = canonicalize({"keytype": "ed25519", "keyval": {"public": key.raw.hex()}, "scheme": "ed25519"})
    return hashlib.sha256(text).hexdigest()  # all-ASCII: RFC 8785 and OLPC canonical JSON agree


def _hex_of(digest: str) -> str:
    return digest.split(":", 1)[1].lower()


def expected_subjects(receipt: Mapping[str, Any]) -> dict[str, str]:
    """Subject name -> blake3 hex for the receipt's outputs, in first-recorded order.

    A directory output with a ``files`` map gives one entry per file (``dir/rel``); without one,
    or with one that does not reproduce the directory's digest (names and digests nobody could
    check), the directory itself (its manifest digest).
    """
    subjects: dict[str, str] = {}
    for step in receipt.get("steps") or []:
        for output in step.get("outputs") or []:
            path = output["path"]
            files = output.get("files")
            if (
                path.endswith("/")
                and isinstance(files, Mapping)
                and files_map_digest(files) == normalize_digest(output["hash"])
            ):
                for rel in sorted(files, key=str.encode):
                    subjects.setdefault(path + rel, _hex_of(files[rel]))
            else:
                subjects.setdefault(path, _hex_of(output["hash"]))
    return subjects


def directory_outputs(receipt: Mapping[str, Any]) -> dict[str, str]:
    """Directory outputs (``dir/`` -> manifest blake3 hex) of the receipt."""
    found: dict[str, str] = {}
    for step in receipt.get("steps") or []:
        for output in step.get("outputs") or []:
            if output["path"].endswith("/"):
                found.setdefault(output["path"], _hex_of(output["hash"]))
    return found


def subject_list(named: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Statement subjects from name -> digest set (sorted by name, as UTF-8 bytes)."""
    return [{"name": name, "digest": dict(named[name])} for name in sorted(named, key=str.encode)]


def receipt_statement_subjects(receipt: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The blake3-only subjects of a receipt (no artifacts hashed)."""
    return subject_list({name: {"blake3": hex_} for name, hex_ in expected_subjects(receipt).items()})


def statement(
    subjects: Sequence[Mapping[str, Any]], predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1."""
    return {"_type": STATEMENT_TYPE, "subject": list(subjects), "predicateType": predicate_type, "predicate": predicate}


def integral_doubles_as_integers(value: Any) -> Any:
    """*value* with every integral float within +/-(2^53-1) turned into an int.

    protobuf ``Struct`` (in-toto-attestation's Python helpers) holds every number as a double,
    so a receipt predicate comes back with ``exit_code: 0.0``. Under RFC 8785 ``0.0`` and ``0``
    are the same text, so this changes no signing input; a fraction (``0.5``) is left as it is
    and fails the receipt's own rules.
    """
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= _SAFE_INTEGER:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: integral_doubles_as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_doubles_as_integers(v) for v in value]
    return value


def _digest_problem(name: str, digest: Any) -> str | None:
    if not isinstance(digest, Mapping) or not digest:
        return f"subject {name!r} has no digest set"
    for algorithm, hex_ in digest.items():
        if not isinstance(algorithm, str) or not isinstance(hex_, str) or not _HEX.match(hex_):
            return f"subject {name!r}: digest {algorithm!r} is not a hex string"
        wanted = _DIGEST_LENGTHS.get(algorithm)
        if wanted is not None and len(hex_) != wanted:
            return f"subject {name!r}: {algorithm} digest has {len(hex_)} hex digits, not {wanted}"
    if "blake3" not in digest:
        return f"subject {name!r} has no blake3 digest to check against the receipt"
    return None


def subject_problem(subjects: Any, receipt: Mapping[str, Any]) -> str | None:
    """Why a statement's *subjects* do not describe the receipt's outputs, or ``None``.

    Accepted: any order, extra digest algorithms (well-formed hex), extra subject fields,
    upper-case hex, a directory output named by its files or by itself. Refused: no subjects,
    a subject without a name or a blake3 digest, one the receipt does not record, a blake3
    that differs, a recorded output no subject names, one name with two different digests.
    """
    if not isinstance(subjects, list) or not subjects:
        return "the statement has no subjects"
    expected = expected_subjects(receipt)
    directories = directory_outputs(receipt)
    seen: dict[str, dict[str, str]] = {}
    for index, subject in enumerate(subjects):
        if not isinstance(subject, Mapping):
            return f"subject {index} is not an object"
        name = subject.get("name")
        if not isinstance(name, str) or not name:
            return f"subject {index} has no name to match a recorded output"
        unsafe = unsafe_path_reason(name)
        if unsafe is not None:
            return f"subject {name!r}: {unsafe}"
        digest = subject.get("digest")
        problem = _digest_problem(name, digest)
        if problem is not None:
            return problem
        assert isinstance(digest, Mapping)
        lowered = {str(k): str(v).lower() for k, v in digest.items()}
        if name in seen and seen[name] != lowered:
            return f"subject {name!r} appears twice with different digests"
        seen[name] = lowered
        wanted = expected.get(name, directories.get(name))
        if wanted is None:
            if not any(d in directories and d in expected for d in _parents(name)):
                return f"subject {name!r} is not an output the receipt records"
            continue  # a file of a directory output recorded without a files map
        if lowered["blake3"] != wanted:
            return f"subject {name!r}: blake3 {lowered['blake3']} differs from the recorded {wanted}"
    # Linear in the input: every lookup below is a set probe per parent directory of a name
    # (this runs before any signature is checked, so nothing here may be quadratic).
    named_parents = {parent for other in seen for parent in _parents(other)}
    for name in expected:
        covered = name in seen or any(d in directories and d in seen for d in _parents(name))
        if not covered and name.endswith("/"):  # a directory named by its files
            covered = name in named_parents
        if not covered:
            return f"recorded output {name!r} is named by no subject"
    return None


MAX_DIRECTORY_DEPTH = 64  # a directory output deeper than this names its files only exactly


def _parents(name: str) -> list[str]:
    """The directory prefixes of *name* (``a/b/c`` -> ``a/``, ``a/b/``), itself excluded.

    At most :data:`MAX_DIRECTORY_DEPTH` of them, so the subject check copies at most that many
    times the statement's size (a name with thousands of ``/`` cannot make it quadratic).
    """
    parents: list[str] = []
    index = name.find("/")
    while 0 <= index < len(name) - 1 and len(parents) < MAX_DIRECTORY_DEPTH:
        parents.append(name[: index + 1])
        index = name.find("/", index + 1)
    return parents


__all__ = [
    "MAX_DIRECTORY_DEPTH",
    "STATEMENT_TYPE",
    "directory_outputs",
    "expected_subjects",
    "integral_doubles_as_integers",
    "intoto_key_id",
    "receipt_statement_subjects",
    "statement",
    "subject_list",
    "subject_problem",
]
