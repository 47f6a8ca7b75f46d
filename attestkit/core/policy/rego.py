"""Rego policies (package ``attest.verification``): OPA 1.x semantics, or a refusal.

A policy is first checked statically (``rego_scan``: Rego v1 syntax, imports, builtins), then
compiled by an engine: the embedded one (regorus, see docs/policies.md) or real OPA through
``attestkit.adapters.opa``. Evaluation reads the whole package document and the type of
``deny``; a ``deny`` that is neither a set nor an object, a runtime error or a conflict raises
:class:`RegoEvaluationError` ("could not check", exit 2), never a pass or a made-up violation.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from attestkit.core import interruption
from attestkit.core.policy.base import PolicyContext, Violation
from attestkit.core.policy.rego_builtins import OVERRIDES, no_lone_surrogates
from attestkit.core.policy.rego_rewrite import rewrite_like_opa
from attestkit.core.policy.rego_rules import rule_facts
from attestkit.core.policy.rego_scan import PACKAGE, check_calls, scan
from attestkit.core.policy.rego_sprintf import ROUNDED_ABOVE
from attestkit.core.timeutil import rfc3339_unix_ns, to_unix_ns
from attestkit.errors import PolicyError, RegoEvaluationError

# One query for every engine: the package document, and the type of deny (JSON has no sets).
QUERY = "x := data.attest.verification; t := [type_name(d) | d := data.attest.verification.deny]"
MAX_PRINTS = 1000
_ENGINE_POSITION = re.compile(r"-->\s*[^\n]*?:(\d+):(\d+)")
_ENGINE_MESSAGE = re.compile(r"^error:\s*(.+)$", re.M)


@dataclass(frozen=True)
class RegoOutcome:
    """What an engine returned: the package document, deny's type (None: undefined), prints."""

    document: Mapping[str, Any]
    deny_type: str | None
    prints: tuple[str, ...] = ()


class RegoEvaluator(Protocol):
    """A compiled policy that evaluates the input document."""

    def evaluate(self, document: Mapping[str, Any]) -> RegoOutcome:
        """Evaluate; :class:`RegoEvaluationError` on any runtime error."""
        ...


class RegoEngine(Protocol):
    """Compiles policy text; picklable so worker processes can recompile."""

    @property
    def name(self) -> str:
        """A short name for messages (``embedded``, ``opa``)."""
        ...

    @property
    def embedded(self) -> bool:
        """True when only ``rego_scan.EMBEDDED_BUILTINS`` may be used."""
        ...

    def compile(self, path: str, text: str) -> RegoEvaluator:
        """Compile; :class:`PolicyError` naming the file and line when the engine refuses it."""
        ...


PrintSink = Callable[[str, str], None]
"""Receives ``(policy path, message)`` for each Rego ``print``; the CLI sends them to stderr."""


def engine_error_text(path: str, raw: str) -> str:
    """One line from a regorus error: ``path:line: message``."""
    text = raw.split("Stack backtrace")[0]
    position = _ENGINE_POSITION.search(text)
    message = _ENGINE_MESSAGE.search(text)
    detail = (
        message.group(1).strip() if message else " ".join(text.split())[:200] or "the engine stopped without a message"
    )
    return f"{path}: line {position.group(1)}: {detail}" if position else f"{path}: {detail}"


def _v0_hint(message: str) -> str:
    if "keyword is required" in message and ("`if`" in message or "`contains`" in message):
        return message + " — Rego v0 syntax: add `if`/`contains` (Rego v1)"
    return message


class _RegorusEvaluator:
    """regorus: compiled once; a lock serialises evaluations of one engine."""

    def __init__(self, path: str, text: str) -> None:
        try:
            import regorus
        except ModuleNotFoundError:
            raise PolicyError(
                f"{path}: the embedded Rego engine is not installed: pip install 'attestkit[rego]' "
                "(or use the OPA engine)"
            ) from None
        self._engine = regorus.Engine()
        self._engine.set_rego_v0(False)
        self._engine.set_gather_prints(True)
        for builtin, (arity, function) in OVERRIDES.items():
            self._engine.add_extension(builtin, arity, _guarded(builtin, function))
        self._lock = threading.Lock()
        try:
            self._engine.add_policy(path, text)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # RuntimeError for parse errors; PanicException on Rust panics
            raise PolicyError(_v0_hint(engine_error_text(path, str(exc)))) from None
        self._path = path

    def evaluate(self, document: Mapping[str, Any]) -> RegoOutcome:
        """Evaluate the query on *document*."""
        with self._lock:
            interruption.take()
            try:
                self._engine.set_input_json(json.dumps(document, ensure_ascii=False, allow_nan=False))
                raw = self._engine.eval_query_as_json(QUERY)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # regorus raises RuntimeError, and pyo3's PanicException on Rust panics
                self._drain()
                pending = interruption.take()
                if pending is not None:
                    raise pending from None
                raise RegoEvaluationError(f"could not evaluate {engine_error_text(self._path, str(exc))}") from None
            prints = self._drain()
        return parse_query_result(self._path, raw, prints)

    def _drain(self) -> tuple[str, ...]:
        try:
            return tuple(str(p) for p in self._engine.take_prints())[:MAX_PRINTS]
        except Exception:
            return ()


def _guarded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """*function* whose result is checked before the engine takes it: a lone surrogate crashed the process.

    An interruption raised while it runs (the per-receipt time budget's alarm, Ctrl-C) reaches the
    engine as an error string; it is kept here so that the evaluation re-raises it, not a "could
    not evaluate" that hides the budget.
    """

    def call(*args: Any) -> Any:
        try:
            return no_lone_surrogates(name, function(*args))
        except Exception:
            raise
        except BaseException as exc:
            interruption.note(exc)
            raise

    return call


@dataclass(frozen=True)
class EmbeddedEngine:
    """The embedded engine (regorus); only the builtins in ``rego_scan.EMBEDDED_BUILTINS``."""

    name: str = "embedded"
    embedded: bool = True

    def compile(self, path: str, text: str) -> RegoEvaluator:
        """Compile *text* with regorus."""
        return _RegorusEvaluator(path, text)


def parse_query_result(path: str, raw: str, prints: tuple[str, ...] = ()) -> RegoOutcome:
    """Read the ``{"result": [{"bindings": {"x", "t"}}]}`` JSON both engines return."""
    try:
        output = json.loads(raw)
        results = output.get("result") or []
    except (ValueError, AttributeError):
        raise RegoEvaluationError(f"could not evaluate {path}: the engine returned unreadable output") from None
    if len(results) != 1 or not isinstance(results[0], Mapping):
        raise RegoEvaluationError(
            f"could not evaluate {path}: data.{PACKAGE} is undefined or has {len(results)} results"
        )
    bindings = results[0].get("bindings") or {}
    document, types = bindings.get("x"), bindings.get("t")
    if not isinstance(document, Mapping) or not isinstance(types, list) or len(types) > 1:
        raise RegoEvaluationError(f"could not evaluate {path}: unexpected engine output")
    deny_type = types[0] if types else None
    if deny_type is not None and not isinstance(deny_type, str):
        raise RegoEvaluationError(f"could not evaluate {path}: unexpected engine output")
    return RegoOutcome(document, deny_type, prints)


def member_message(member: Any) -> str:
    """A violation message for one ``deny`` member: the string itself, else compact sorted JSON."""
    if isinstance(member, str):
        return member
    return json.dumps(member, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decide(path: str, outcome: RegoOutcome, has_allow: bool) -> list[Violation]:
    """Contract §4/§5: ``allow`` not true (when defined as a rule) and each ``deny`` member."""
    if _inexact_number(outcome.document):
        raise RegoEvaluationError(
            f"could not check {path}: the result holds a number beyond 2**53 that the embedded engine computed "
            "in floating point (OPA computes it exactly); use the OPA engine"
        )
    found: list[Violation] = []
    if has_allow and outcome.document.get("allow") is not True:
        found.append(Violation(path, "allow is not true"))
    deny = outcome.document.get("deny")
    if outcome.deny_type is None:
        if deny is not None:
            raise RegoEvaluationError(f"could not evaluate {path}: unexpected engine output for deny")
        return found
    if outcome.deny_type == "set" and isinstance(deny, list):
        members = sorted(member_message(m) for m in deny)
    elif outcome.deny_type == "object" and isinstance(deny, Mapping):
        members = sorted(str(key) for key in deny)
    else:
        raise RegoEvaluationError(
            f"could not check {path}: deny is a {outcome.deny_type}; it must be a set (deny contains msg if ...) "
            "or an object (deny[key] := value if ...)"
        )
    found.extend(Violation(path, message) for message in members)
    return found


_MAX_EXACT = 2**53


def _inexact_number(value: Any) -> bool:
    """Whether a result holds a float of magnitude 2**53 or more: an integer the engine overflowed."""
    if isinstance(value, float):
        return not abs(value) < _MAX_EXACT
    if isinstance(value, Mapping):
        return any(_inexact_number(item) for item in value.values())
    if isinstance(value, list):
        return any(_inexact_number(item) for item in value)
    return False


# Sums of a fraction (denominator at most 2**20, see guard_numbers) and an integer below 2**32
# fit in a double's 53 bits; from here on the engine may round where OPA does not.
ROUNDED_FROM = 2**32


def _has_fraction(value: Any) -> bool:
    if isinstance(value, float):
        return not value.is_integer()
    if isinstance(value, Mapping):
        return any(_has_fraction(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_fraction(item) for item in value)
    return False


def _large_integer(value: Any, limit: int) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) >= limit and float(value).is_integer()
    if isinstance(value, Mapping):
        return any(_large_integer(item, limit) for item in value.values())
    if isinstance(value, list):
        return any(_large_integer(item, limit) for item in value)
    return False


def _normalise(value: Any) -> Any:
    """Integral floats become ints (their RFC 8785 form), so no engine renders ``7200.0`` differently."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT:
        return int(value)
    if isinstance(value, Mapping):
        return {
            key: _normalise(item) if isinstance(item, (float, Mapping, list)) else item for key, item in value.items()
        }
    if isinstance(value, list):
        return [_normalise(item) if isinstance(item, (float, Mapping, list)) else item for item in value]
    return value


def _awkward_numbers(value: Any, pointer: str = "") -> Iterator[tuple[str, float, bool]]:
    """Floats as ``(pointer, value, exponent_form)`` when their decimal text is not the exact
    binary value (0.1), is written with an exponent (1e-07), or is 2**53 or more."""
    if isinstance(value, float):
        text = repr(value)
        exponent = "e" in text or "E" in text
        # Exact only if the binary fraction is short: 12.5 is 25/2; 45.2 needs 2**-49.
        denominator = value.as_integer_ratio()[1]
        # An integral float from 2**53 on is exact as written, but the engine's arithmetic on it
        # is a double's (x + 1 == x) while OPA's is exact.
        if exponent or denominator > 1 << 20 or Decimal(text) != Decimal(value) or not abs(value) < _MAX_EXACT:
            yield pointer or "/", value, exponent
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, (float, Mapping, list)):
                yield from _awkward_numbers(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (float, Mapping, list)):
                yield from _awkward_numbers(item, f"{pointer}/{index}")


def guard_numbers(path: str, document: Mapping[str, Any], arithmetic: bool, renders_numbers: bool) -> None:
    """Refuse inputs whose numbers the embedded engine (IEEE doubles, its own formatting) may treat
    differently from OPA (arbitrary precision, Go formatting): only when the policy does arithmetic
    or renders numbers as text."""
    if not (arithmetic or renders_numbers):
        return
    for pointer, value, exponent in _awkward_numbers(document):
        if arithmetic and not exponent:
            raise RegoEvaluationError(
                f"could not check {path}: the policy does arithmetic and input{pointer} is {value!r}, a decimal the "
                "embedded engine rounds differently from OPA; use the OPA engine"
            )
        if exponent:
            raise RegoEvaluationError(
                f"could not check {path}: input{pointer} is {value!r}, a number the embedded engine writes differently "
                "from OPA; use the OPA engine"
            )


def input_document(context: PolicyContext) -> dict[str, Any]:
    """The input document of contract §4, plus ``signature.identity`` (the trust store's identity)."""
    timestamp_ns = to_unix_ns(context.timestamp) if context.timestamp is not None else 0
    written = context.receipt.get("timestamp") if isinstance(context.receipt, Mapping) else None
    if timestamp_ns and isinstance(written, str) and len(written) > 27:  # maybe digits beyond the microsecond
        try:
            timestamp_ns = rfc3339_unix_ns(written)
        except ValueError:  # pragma: no cover - the verifier parsed it already
            pass
    now_ns = to_unix_ns(context.now)
    return {
        "receipt": _normalise(context.receipt),
        "signature": {
            "verified": context.signature_verified,
            # May be the receipt's own, unverified claim when the trust store has no identity.
            "signer": context.signer,
            "public_key": context.public_key or "",
            # Established by a trusted keyring entry; null when there is none.
            "identity": context.trusted_identity,
        },
        "now_ns": now_ns,
        "timestamp_ns": timestamp_ns,
        "age_seconds": _normalise((now_ns - timestamp_ns) / 1e9),
    }


class RegoPolicy:
    """A checked, compiled Rego policy; ``allow`` not true or any ``deny`` member is a violation."""

    def __init__(
        self, name: str, text: str, *, engine: RegoEngine | None = None, print_sink: PrintSink | None = None
    ) -> None:
        self.name = name
        self.text = text
        self.engine: RegoEngine = engine if engine is not None else EmbeddedEngine()
        self.print_sink = print_sink
        result = scan(name, text)
        check_calls(name, result, embedded=self.engine.embedded)
        rule_lines = frozenset(
            result.tokens[index].line
            for index in result.statements
            if result.tokens[index].text not in ("package", "import", "else")
        )
        facts = rule_facts(name, text, rule_lines)
        self.has_allow = result.has_allow if facts is None else "allow" in facts.names
        self.arithmetic = result.arithmetic
        self.renders_numbers = result.renders_numbers
        self.fractional_literals = result.fractional_literals
        self.large_integers = result.large_integers
        # The embedded engine compiles the policy with its regex patterns rewritten to match RE2
        # and its negations and head terms moved as OPA's compiler does.
        if self.engine.embedded:
            names = (facts.names if facts is not None else frozenset()) | result.functions
            self._compiled = self.engine.compile(name, rewrite_like_opa(name, result.text, names))
        else:
            self._compiled = self.engine.compile(name, text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled state is not picklable: worker processes recompile from the source.
        return (_rebuild, (self.name, self.text, self.engine, self.print_sink))

    def evaluate(self, context: PolicyContext) -> list[Violation]:
        """Evaluate against the contract's input document; :class:`RegoEvaluationError` if OPA would fail."""
        document = input_document(context)
        limit = None
        if self.engine.embedded:
            guard_numbers(self.name, document, self.arithmetic, self.renders_numbers)
            if self.large_integers and _inexact_number(document):
                # The engine compares such a float with an integer beyond 2**53 as two doubles
                # (1e21 == 1000000000000000000001); OPA compares the decimals exactly.
                raise RegoEvaluationError(
                    f"could not check {self.name}: the input holds a number of 2**53 or more written as a float, "
                    "and the policy compares with an integer that large; use the OPA engine"
                )
            if self.arithmetic and (self.fractional_literals or _has_fraction(document)):
                limit = ROUNDED_FROM
        token = ROUNDED_ABOVE.set(limit)
        try:
            outcome = self._compiled.evaluate(document)
        finally:
            ROUNDED_ABOVE.reset(token)
        if self.print_sink is not None:
            for message in outcome.prints:
                self.print_sink(self.name, message)
        if limit is not None and _large_integer(outcome.document, limit):
            raise RegoEvaluationError(
                f"could not check {self.name}: the result holds an integer of {limit} or more while the policy mixes "
                "fractions into arithmetic; the embedded engine may have rounded it (OPA computes exactly); "
                "use the OPA engine"
            )
        return decide(self.name, outcome, self.has_allow)


def _rebuild(name: str, text: str, engine: RegoEngine, sink: PrintSink | None) -> RegoPolicy:
    return RegoPolicy(name, text, engine=engine, print_sink=sink)


__all__ = [
    "PACKAGE",
    "QUERY",
    "EmbeddedEngine",
    "PrintSink",
    "RegoEngine",
    "RegoEvaluator",
    "RegoOutcome",
    "RegoPolicy",
    "decide",
    "input_document",
    "member_message",
    "parse_query_result",
]
