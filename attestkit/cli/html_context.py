"""What the HTML audit report says about the run itself: the command, and its inputs by digest."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from attestkit.core.render.html_report import Material, ReportContext, key_events, key_identities
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import AttestkitError


def _digest(path: str) -> str | None:
    """The file's BLAKE3 digest, or ``None`` for stdin or a file that cannot be read again."""
    from attestkit.core.crypto.digest import hash_file

    if path == "-" or not os.path.isfile(path):
        return None
    try:
        return hash_file(path)
    except (AttestkitError, OSError):
        return None


def _materials(given: Mapping[str, Any]) -> list[Material]:
    found: list[Material] = []
    for value in given.get("public_keys", ()):
        if os.path.isfile(value):
            found.append(Material("trusted key file", value, _digest(value)))
        else:
            found.append(Material("trusted key", value))
    found.extend(Material("trusted keys file", path, _digest(path)) for path in given.get("trusted_files", ()))
    found.extend(Material("built-in policy", name) for name in given.get("policy_names", ()))
    found.extend(Material("policy file", path, _digest(path)) for path in given.get("policy_files", ()))
    if given.get("pipeline"):
        found.append(Material("pipeline file", given["pipeline"], _digest(given["pipeline"])))
    if given.get("artifacts"):
        found.append(Material("artifacts directory", given["artifacts"]))
    found.extend(Material("log proof", path, _digest(path)) for path in given.get("log_proofs", ()))
    if given.get("log_policy"):
        found.append(Material("log policy", given["log_policy"], _digest(given["log_policy"])))
    return found


def report_context(options: VerifyOptions, given: Mapping[str, Any]) -> ReportContext:
    """The report's context: ``attestkit`` and the arguments as given, the inputs, the keyring dates."""
    return ReportContext(
        command=["attestkit", *sys.argv[1:]],
        generated_at=options.now,
        material=_materials(given),
        key_events=key_events(options.trusted),
        key_identities=key_identities(options.trusted),
    )
