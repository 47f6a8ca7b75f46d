"""``attestkit hash``."""

from __future__ import annotations

import os

import click

from attestkit.cli.output import error, json_line, out, safe
from attestkit.cli.progress import Progress
from attestkit.cli.reporting import format_option, output_option
from attestkit.core.crypto.check_file import check_line
from attestkit.core.crypto.digest import hash_path, normalize_digest, tree_manifest
from attestkit.errors import AttestkitError, UsageError


def _processes() -> int:
    """Processes a large tree is shared between: one per core this process may run on, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _check(listing: str, fmt: str, output_file: str | None) -> int:
    """Re-check `blake3:<hex>  PATH` lines (b3sum's `<hex>  PATH` too); 1 on any mismatch."""
    from attestkit.adapters.files import read_bytes
    from attestkit.cli.reporting import document, emit
    from attestkit.core.crypto.check_file import parse_check_file
    from attestkit.core.render.ci_reports import Subject
    from attestkit.core.verify.result import Check

    text = read_bytes(listing, "check file").decode("utf-8", "replace")
    entries = parse_check_file(text, listing)
    subjects = []
    for entry in entries:
        expected, path = entry.digest, entry.path
        candidates = [name for name in (path, entry.escaped_path) if name is not None and os.path.lexists(name)]
        if len(candidates) > 1:  # a decoy named with the escapes of the file the line was written for
            message = f"{path}: FAILED (both {path!r} and {entry.escaped_path!r} exist; the line could mean either)"
            check = Check("digest", False, "ambiguous-name", message, path)
            subjects.append(Subject(path, (check,), False))
            continue
        path = candidates[0] if candidates else path
        try:
            actual = hash_path(path, processes=_processes())
        except AttestkitError as exc:
            check = Check("digest", False, exc.code, f"{path}: FAILED ({exc.message})", path)
        else:
            wanted = normalize_digest(expected)
            if actual == wanted:
                check = Check("digest", True, "ok", f"{path}: OK", path)
            else:
                check = Check(
                    "digest", False, "digest-mismatch", f"{path}: FAILED (expected {wanted}, got {actual})", path
                )
        subjects.append(Subject(path, (check,), check.passed))
    failures = sum(1 for s in subjects if not s.passed)
    if fmt == "text":
        emit("".join(safe(s.checks[0].message) + "\n" for s in subjects), output_file)  # a name may hold a newline
    elif fmt == "json":
        emit("".join(json_line(s.checks[0].to_json()) + "\n" for s in subjects), output_file)
    else:
        emit(document(subjects, fmt, "attestkit hash --check"), output_file)
    if failures:
        error(f"{failures} of {len(entries)} digests did not match")
        return 1
    return 0


@click.command("hash")
@click.argument("paths", nargs=-1)
@click.option("--manifest", is_flag=True, help="Print the manifest lines of each directory instead of its digest.")
@click.option(
    "--check",
    "check_file",
    metavar="FILE",
    help="Re-check a file of 'blake3:<hex>  PATH' lines; exit 1 on any mismatch.",
)
@format_option
@output_option
def hash_cmd(paths: tuple[str, ...], manifest: bool, check_file: str | None, fmt: str, output_file: str | None) -> int:
    """Print `blake3:<hex>  PATH` for each file or directory (PATH... or --check FILE).

    A newline or control character in a PATH is shown escaped (`a\\nb`); --check reads
    such a line as either name, and fails when both files exist.

    With -o FILE the lines go to FILE, written atomically and only when every PATH could be
    hashed. --format applies to --check (text digests are b3sum's format already).
    """
    if check_file is not None:
        if paths:
            raise UsageError("--check takes no PATH arguments")
        if manifest:
            raise UsageError("--manifest and --check exclude each other")
        return _check(check_file, fmt, output_file)
    if fmt != "text":
        raise UsageError(f"--format {fmt} is for --check FILE; digests are printed as `blake3:<hex>  PATH` lines")
    if not paths:
        raise UsageError("give at least one PATH (or --check FILE)")
    status = 0
    written: list[str] = []
    for path in paths:
        try:
            with Progress(f"hashing {path}") as progress:
                if manifest:
                    entries = tree_manifest(path, progress=progress, processes=_processes())
                    lines = [safe(entry.line()) for entry in entries]
                else:
                    # the contract's line, unsafe characters escaped; --check reads it both ways
                    lines = [check_line(hash_path(path, progress, processes=_processes()), path)]
            for line in lines:
                if output_file is None or output_file == "-":
                    out(line)
                else:
                    written.append(line + "\n")
        except AttestkitError as exc:
            error(str(exc))
            status = 2
    if written and status == 0:
        from attestkit.cli.reporting import emit

        emit("".join(written), output_file)
    elif written:
        error(f"{output_file} not written: some paths could not be hashed")
    return status
