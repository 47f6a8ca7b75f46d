"""Rego policies (package ``attest.verification``), compiled once with regopy."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from typing import Any

from attestkit.core.policy.base import PolicyContext, Violation
from attestkit.core.timeutil import to_unix_ns
from attestkit.errors import PolicyError

PACKAGE = "attest.verification"
_PACKAGE_RE = re.compile(r"^\s*package\s+([\w.]+)", re.M)
_ALLOW_RULE = re.compile(r"^\s*(default\s+)?allow\b(?!\w)", re.M)
_ERROR_POS = re.compile(r"\(error \d+:[^|]*\|(\d+)\|\d+\s*\(errormsg \d+:([^)]*)\)")
_QUERY = "x = data.attest.verification"
_lock = threading.Lock()


def _quiet_compile(interpreter: Any, name: str, text: str) -> None:
    """regopy prints compile errors on stdout; keep them off the user's output."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        interpreter.add_module(name, text)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class RegoPolicy:
    """A compiled Rego policy; ``allow`` not true or any ``deny`` message is a violation."""

    def __init__(self, name: str, text: str) -> None:
        import regopy

        self.name = name
        self.text = text
        packages = _PACKAGE_RE.findall(text)
        if packages[:1] != [PACKAGE]:
            found = packages[0] if packages else "none"
            raise PolicyError(f"{name}: package must be {PACKAGE} (found {found})")
        self.has_allow = bool(_ALLOW_RULE.search(text))
        self._interpreter = regopy.Interpreter()
        try:
            _quiet_compile(self._interpreter, os.path.basename(name) or "policy.rego", text)
            self._bundle = self._interpreter.build(_QUERY)
        except Exception as exc:
            raise PolicyError(f"{name}: Rego syntax error{_error_line(str(exc), text)}") from None

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        # Compiled state is not picklable: worker processes recompile from the source.
        return (RegoPolicy, (self.name, self.text))

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Evaluate against the contract's input document."""
        timestamp_ns = to_unix_ns(context.timestamp) if context.timestamp is not None else 0
        now_ns = to_unix_ns(context.now)
        document = {
            "receipt": dict(context.receipt),
            "signature": {
                "verified": context.signature_verified,
                "signer": context.signer,
                "public_key": context.public_key or "",
            },
            "now_ns": now_ns,
            "timestamp_ns": timestamp_ns,
            "age_seconds": (now_ns - timestamp_ns) / 1e9,
        }
        text = json.dumps(document, ensure_ascii=False)
        with _lock:
            self._interpreter.set_input_term(text)
            output = self._interpreter.query_bundle(self._bundle)
        if not output.ok():
            return [Violation(self.name, f"policy evaluation failed: {str(output)[:200]}")]
        try:
            decision = json.loads(output.binding("x").json())
        except Exception:
            decision = {}
        found: list[Violation] = []
        if not isinstance(decision, dict):
            decision = {}
        if self.has_allow and decision.get("allow") is not True:
            found.append(Violation(self.name, "allow is not true"))
        deny = decision.get("deny") or []
        if isinstance(deny, (list, tuple)):
            for message in deny:
                found.append(Violation(self.name, message if isinstance(message, str) else json.dumps(message)))
        return found


def _error_line(message: str, text: str) -> str:
    match = _ERROR_POS.search(message)
    if not match:
        return ""
    offset = int(match.group(1))
    line = text.encode("utf-8")[:offset].count(b"\n") + 1
    return f" at line {line}: {match.group(2).strip()}"


__all__ = ["PACKAGE", "RegoPolicy"]
