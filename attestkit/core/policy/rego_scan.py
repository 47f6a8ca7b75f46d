"""A small, conservative Rego tokenizer and the static checks run before any engine sees a policy.

It does not evaluate Rego; it finds what a policy *uses* — imports, function calls, keywords,
rule heads — so that a policy the embedded engine cannot evaluate exactly as OPA 1.x does is
refused (exit 2) naming the builtin or construct and its line. Anything it cannot classify is
refused too: a policy that passes here has only tokens and calls this module understood.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from attestkit.errors import PolicyError, RegoUnsupportedError

PACKAGE = "attest.verification"

# Builtins that reach outside the verifier (network, environment, files, randomness, the clock
# beyond time.now_ns) or the evaluator itself: refused with every engine, OPA included.
REFUSED_BUILTINS: dict[str, str] = {
    "http.send": "reaches the network",
    "net.lookup_ip_addr": "reaches the network (DNS)",
    "opa.runtime": "exposes the verifier's environment",
    "rand.intn": "is not deterministic",
    "uuid.rfc4122": "is not deterministic",
    "trace": "writes evaluator traces",
    "providers.aws.sign_req": "signs requests with credentials",
    "crypto.x509.parse_and_verify_certificates_with_options": "reads system trust roots",
    "rego.parse_module": "compiles code at evaluation time",
    "rego.metadata.chain": "depends on evaluator internals",
    "rego.metadata.rule": "depends on evaluator internals",
}
REFUSED_PREFIXES: dict[str, str] = {
    "io.": "reads files",
    "http.": "reaches the network",
    "opa.": "exposes the verifier's runtime",
    "net.lookup": "reaches the network (DNS)",
}

# Builtins the embedded engine evaluates as OPA 1.20 does, verified on the shared conformance
# corpus and by the differential tests against OPA (tests/unit/policy/test_rego_differential.py, call by call in
# tests/unit/policy/test_rego_builtins.py). Anything
# else is refused with the embedded engine; `--rego-engine opa` evaluates it with real OPA.
EMBEDDED_BUILTINS: frozenset[str] = frozenset(
    """
    abs array.concat array.flatten array.reverse array.slice base64.decode base64.encode
    base64.is_valid base64url.decode base64url.encode base64url.encode_no_pad bits.and bits.lsh
    bits.negate bits.or bits.rsh bits.xor ceil concat contains count crypto.hmac.equal
    crypto.hmac.md5 crypto.hmac.sha1 crypto.hmac.sha256 crypto.hmac.sha512 crypto.md5
    crypto.sha1 crypto.sha256 endswith floor format_int glob.match hex.decode hex.encode indexof
    indexof_n intersection is_array is_boolean is_null is_number is_object is_set is_string
    json.is_valid json.marshal json.unmarshal lower max min net.cidr_contains numbers.range
    numbers.range_step object.filter object.get object.keys object.remove object.union
    object.union_n print product regex.find_n regex.is_valid regex.match regex.replace
    regex.split replace round semver.compare semver.is_valid sort split sprintf startswith
    strings.any_prefix_match strings.any_suffix_match strings.count strings.replace_n
    strings.reverse substring sum time.add_date time.clock time.date time.format time.now_ns
    time.parse_duration_ns time.parse_ns time.parse_rfc3339_ns time.weekday to_number trim
    trim_left trim_prefix trim_right trim_space trim_suffix type_name union units.parse
    units.parse_bytes upper urlquery.encode walk
    """.split()
)

# Other builtins OPA 1.20 knows: with the embedded engine they are "not supported" (use real
# OPA) rather than "undefined function".
OTHER_OPA_BUILTINS: frozenset[str] = frozenset(
    """
    all any and base64url.is_valid cast_array cast_boolean cast_null cast_object cast_set
    cast_string crypto.parse_private_keys
    crypto.x509.parse_certificate_request crypto.x509.parse_certificates
    crypto.x509.parse_keypair crypto.x509.parse_rsa_private_key div eq equal graph.reachable
    graph.reachable_paths graphql.is_valid graphql.parse graphql.parse_and_verify
    graphql.parse_query graphql.parse_schema graphql.schema_is_valid gt gte internal.member_2
    internal.member_3 internal.print json.filter json.marshal_with_options json.match_schema
    json.patch json.remove json.verify_schema lt lte minus mul neq net.cidr_contains_matches
    net.cidr_expand net.cidr_intersects net.cidr_is_valid net.cidr_merge net.cidr_overlap
    object.subset or plus re_match regex.find_all_string_submatch_n regex.globs_match
    regex.template_match rem set_diff strings.render_template sets.intersection time.diff
    urlquery.decode urlquery.decode_object urlquery.encode_object uuid.parse glob.quote_meta
    io.jwt.decode yaml.is_valid yaml.marshal yaml.unmarshal
    """.split()
)

_KEYWORDS = frozenset("package import as default if contains else some every in not with true false null".split())
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|[{}\[\]().,;:=<>+\-*/%&|])
    """,
    re.X,
)
_PAIRS = {"{": "}", "[": "]", "(": ")"}
_IMPORTS = frozenset(
    {"rego.v1", "future.keywords"} | {f"future.keywords.{k}" for k in ("contains", "every", "if", "in")}
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, text and 1-based line."""

    kind: str
    text: str
    line: int
    start: int = 0


@dataclass(frozen=True)
class Call:
    """A function call found in the policy (dotted name and line)."""

    name: str
    line: int


@dataclass(frozen=True)
class Scan:
    """What the static pass learned about a policy."""

    has_allow: bool
    calls: tuple[Call, ...]
    functions: frozenset[str]
    tokens: tuple[Token, ...] = ()
    statements: tuple[int, ...] = ()
    arithmetic: bool = False
    renders_numbers: bool = False
    text: str = ""
    fractional_literals: bool = False
    literal_refusals: tuple[str, ...] = ()  # number literals only OPA reads exactly (embedded engine: refused)
    large_integers: bool = False  # an integer literal of 2**53 or more (compared exactly with ints, not floats)


def _check_string(name: str, token: str, line: int) -> None:
    body = token[1:-1]
    index = 0
    while index < len(body):
        if body[index] == "\\":
            escape = body[index + 1]
            if escape == "u":
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", body[index + 2 : index + 6]):
                    raise PolicyError(f"{name}: line {line}: invalid \\u escape in a string (Rego syntax error)")
                index += 6
                continue
            if escape not in _ESCAPES:
                raise PolicyError(f"{name}: line {line}: invalid escape \\{escape} in a string (Rego syntax error)")
            index += 2
            continue
        index += 1


def tokenize(name: str, text: str) -> list[Token]:
    """Split *text* into tokens; :class:`RegoUnsupportedError` naming the line on anything unknown."""
    tokens: list[Token] = []
    line = 1
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            raise PolicyError(
                f"{name}: line {line}: cannot read {char!r} here (not Rego that attestkit's checker understands); "
                "check the syntax with `opa check`"
            )
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "string":
            _check_string(name, value, line)
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, value, line, position))
        line += value.count("\n")
        position = match.end()
    return tokens


def _ref_at(tokens: list[Token], index: int) -> tuple[str, int]:
    """The dotted name starting at *index* and the index after it."""
    parts = [tokens[index].text]
    index += 1
    while (
        index + 1 < len(tokens)
        and tokens[index].text == "."
        and tokens[index + 1].kind == "ident"
        and tokens[index + 1].text not in _KEYWORDS
    ):
        parts.append(tokens[index + 1].text)
        index += 2
    return ".".join(parts), index


def scan(name: str, text: str) -> Scan:
    """Tokenize and check the policy's shape: package, imports, rule heads, ``with``, v0 bodies."""
    # Long by design: a single pass over the token stream whose states share locals.
    tokens = tokenize(name, text)
    significant = [t for t in tokens if t.kind != "newline"]
    if not significant or significant[0].text != "package":
        raise RegoUnsupportedError(f"{name}: package must be {PACKAGE} (found none)")
    package, after = _ref_at(significant, 1) if len(significant) > 1 else ("", 1)
    if package != PACKAGE:
        raise RegoUnsupportedError(f"{name}: package must be {PACKAGE} (found {package or 'none'})")
    if any(t.text == "package" for t in significant[after:]):
        raise RegoUnsupportedError(f"{name}: only one package statement is allowed")

    depth = 0
    opened: list[Token] = []
    at_line_start = True
    statement_start: list[int] = []
    previous: Token | None = None
    for index, token in enumerate(tokens):
        if token.kind == "newline":
            at_line_start = True
            continue
        if (
            depth == 0
            and at_line_start
            and token.kind == "ident"
            and (previous is None or previous.text not in (":=", "=", ",", "|", "&", "+", "-", "*", "/", "(", "["))
        ):
            statement_start.append(index)
        at_line_start = False
        if token.kind == "op" and token.text in ("{", "[", "("):
            depth += 1
            opened.append(token)
        elif token.kind == "op" and token.text in ("}", "]", ")"):
            depth -= 1
            if depth < 0 or _PAIRS[opened.pop().text] != token.text:
                raise PolicyError(f"{name}: line {token.line}: unbalanced {token.text!r} (Rego syntax error)")
        previous = token
    if opened:
        raise PolicyError(f"{name}: line {opened[-1].line}: {opened[-1].text!r} is never closed (Rego syntax error)")

    has_allow = False
    functions: set[str] = set()
    defaults: dict[str, int] = {}
    for index in statement_start:
        token = tokens[index]
        if token.text in ("package", "else"):
            continue
        if token.text == "import":
            target, _ = _ref_at(tokens, index + 1) if index + 1 < len(tokens) else ("", 0)
            if target not in _IMPORTS:
                raise RegoUnsupportedError(
                    f"{name}: line {token.line}: import {target or '?'} is not supported "
                    "(only rego.v1 and future.keywords; a policy is one self-contained file)"
                )
            continue
        head_index = index
        if token.text == "default":
            head_index = index + 1
            if head_index >= len(tokens) or tokens[head_index].kind != "ident":
                raise RegoUnsupportedError(f"{name}: line {token.line}: cannot read this default rule")
        if tokens[head_index].text in _KEYWORDS:
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: cannot read a rule starting with {tokens[head_index].text!r}"
            )
        rule, after_ref = _ref_at(tokens, head_index)
        if token.text == "default":
            if rule in defaults:
                raise RegoUnsupportedError(
                    f"{name}: line {token.line}: more than one default rule for {rule} (line {defaults[rule]}); "
                    "OPA refuses to compile this"
                )
            defaults[rule] = token.line
        if rule.split(".")[0] == "allow":
            has_allow = True
        if after_ref < len(tokens) and tokens[after_ref].text == "(":
            functions.add(rule)
        _check_v1_head(name, tokens, after_ref, rule, tokens[head_index].line)

    calls: list[Call] = []
    starts = set(statement_start)
    for index, token in enumerate(tokens):
        if token.text == "with" and token.kind == "ident":
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: `with` is not supported (it replaces input or builtins)"
            )
        if token.kind != "ident" or token.text in _KEYWORDS:
            continue
        if index > 0 and tokens[index - 1].text == ".":
            continue
        ref, after_ref = _ref_at(tokens, index)
        if after_ref < len(tokens) and tokens[after_ref].text == "(":
            definition = index in starts or (index - 1 in starts and tokens[index - 1].text == "default")
            if not definition:
                calls.append(Call(ref, token.line))
    names = {c.name for c in calls}
    arithmetic = bool(names & _ARITHMETIC_BUILTINS) or any(
        t.kind == "op" and t.text in ("+", "-", "*", "/", "%") for t in tokens
    )
    renders = bool(names & _RENDERING_BUILTINS)
    # attestkit's own sprintf (rego_builtins) refuses any number it cannot print as OPA does; the
    # engine's other renderers write computed numbers their own way.
    if names & (_RENDERING_BUILTINS - {"sprintf"}) and any(
        t.kind == "op" and t.text in ("*", "/", "%") for t in tokens
    ):
        # Computed numbers may be floats (division, integer overflow) that the embedded engine
        # writes differently from Go (0.00...055 vs 5.5e-19): refused, found by the differential test.
        line = next(t.line for t in tokens if t.kind == "op" and t.text in ("*", "/", "%"))
        raise RegoUnsupportedError(
            f"{name}: line {line}: the policy computes numbers (*, /, %) and formats values as text; the embedded "
            "engine may write a computed number differently from OPA (use the OPA engine)"
        )
    for position, token in enumerate(tokens):
        if token.kind == "op" and token.text == "/" and not _literal_division(tokens, position):
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: division is computed in binary floating point by the embedded engine "
                "and in 64-bit decimal precision by OPA, which can round differently (only a division of two number "
                "literals is evaluated); use the OPA engine"
            )
    literal_refusals: list[str] = []
    for position, token in enumerate(tokens):
        if token.kind == "number" and ("." in token.text or "e" in token.text.lower()):
            if arithmetic and not _exact_literal(token.text):
                raise RegoUnsupportedError(
                    f"{name}: line {token.line}: the number {token.text} is not exact in binary and the policy does "
                    "arithmetic; the embedded engine may round it differently from OPA (use the OPA engine)"
                )
            # Any value may be written out as text (a deny member is a message), and OPA compares
            # decimals exactly: only a literal written as its double prints, or an exact one that
            # is only compared, means the same to both engines.
            if not _printed_as_written(token.text) and not (_compared(tokens, position) and _exact_literal(token.text)):
                literal_refusals.append(
                    f"{name}: line {token.line}: OPA keeps the number {token.text} as written (in messages and "
                    "comparisons), the embedded engine as a double; write it as an integer or in shortest form "
                    "(or use the OPA engine)"
                )
    fractional = any(t.kind == "number" and ("." in t.text or "e" in t.text.lower()) for t in tokens)
    result = Scan(
        has_allow,
        tuple(calls),
        frozenset(functions),
        tuple(tokens),
        tuple(statement_start),
        arithmetic,
        renders,
        _rewrite_regex_patterns(name, text, tokens),
        fractional,
        tuple(literal_refusals),
        any(t.kind == "number" and t.text.isdigit() and int(t.text) >= 2**53 for t in tokens),
    )
    _check_sprintf_formats(name, tokens)
    _check_glob_patterns(name, tokens)
    _check_unification_types(name, result)
    return result


def _check_glob_patterns(name: str, tokens: list[Token]) -> None:
    """``glob.match`` needs a literal pattern of ``*``, ``**``, ``?`` and non-empty ``{a,b}``.

    Character classes and escapes (``[^a]``, ``[!a]``, ``[\\]]``) and empty alternatives
    (``a{,b}``) were measured to match differently in the embedded engine and in Go's glob library.
    """
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "glob" or (index > 0 and tokens[index - 1].text == "."):
            continue
        ref, after = _ref_at(tokens, index)
        if ref != "glob.match" or after >= len(tokens) or tokens[after].text != "(":
            continue
        argument = _argument_token(tokens, after, 0)
        pattern = _literal_value(argument) if argument is not None else None
        if pattern is None or any(part in pattern for part in ("[", "]", "\\", "{,", ",}", "{}", ",,")):
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: glob.match needs a literal pattern of *, ?, and {{a,b}} with the embedded "
                "engine (character classes, escapes and empty alternatives match differently from OPA); use the OPA engine"
            )


def _check_v1_head(name: str, tokens: list[Token], index: int, rule: str, line: int) -> None:
    """Refuse v0-style rule bodies (``p { ... }``, ``p[x] { ... }``): OPA 1.x does not compile them."""
    # Skip the head's arguments or key: p(x), p[x].
    depth = 0
    while index < len(tokens):
        text = tokens[index].text
        if depth == 0 and text not in ("(", "["):
            break
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        index += 1
        if depth == 0:
            break
    if index < len(tokens) and tokens[index].text == "{":
        raise RegoUnsupportedError(
            f"{name}: line {line}: rule {rule} uses Rego v0 syntax: add `if`/`contains` (Rego v1), "
            f"e.g. `{rule} contains msg if {{ ... }}`"
        )


_sre: Any = __import__("re._constants").__dict__["_constants"]
_sre_parse: Any = __import__("re._parser").__dict__["_parser"].parse
_SubPattern: Any = __import__("re._parser").__dict__["_parser"].SubPattern
_ARITHMETIC_BUILTINS = frozenset(["sum", "product", "to_number", "units.parse", "units.parse_bytes", "json.unmarshal"])
_RENDERING_BUILTINS = frozenset(["sprintf", "json.marshal", "format_int", "base64.encode", "hex.encode"])


def _exact_literal(text: str) -> bool:
    """True when a number literal's decimal value is exactly its IEEE double and written without exponent."""
    from decimal import Decimal, InvalidOperation

    try:
        return "e" not in text.lower() and Decimal(text) == Decimal(float(text))
    except (InvalidOperation, ValueError, OverflowError):
        return False


def _literal_division(tokens: list[Token], index: int) -> bool:
    """Whether the ``/`` at *index* divides one number literal by another (``7 / 2``): a constant
    both engines compute exactly when it is a short binary fraction."""
    if index == 0 or index + 1 >= len(tokens):
        return False
    before, after = tokens[index - 1], tokens[index + 1]
    outer_before = tokens[index - 2].text if index > 1 else ""
    outer_after = tokens[index + 2].text if index + 2 < len(tokens) else ""
    if before.kind != "number" or after.kind != "number" or float(after.text) == 0:
        return False
    return (
        outer_before not in ("*", "/", "%", ".") and outer_after not in ("*", "/", "%", ".")
        and _exact_literal(repr(float(before.text) / float(after.text)))
    )  # fmt: skip


_COMPARISONS = frozenset(["==", "!=", "<", ">", "<=", ">="])


def _compared(tokens: list[Token], index: int) -> bool:
    """Whether the literal at *index* is a whole operand of a comparison (only a boolean escapes)."""
    before = tokens[index - 1] if index > 0 else None
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    if before is not None and before.text == "-":  # a negative literal: look past the sign
        before = tokens[index - 2] if index > 1 else None
    ends = (None, "\n", ";", ")", "}", "]")
    return bool(
        (
            before is not None
            and before.text in _COMPARISONS
            and (after is None or after.kind == "newline" or after.text in ends[2:])
        )
        or (
            after is not None
            and after.text in _COMPARISONS
            and (before is None or before.kind == "newline" or before.text in (";", "(", "{", "[", "if"))
        )
    )


def _printed_as_written(text: str) -> bool:
    """True when a decimal literal prints the same as a double: OPA writes a literal's own text
    (``2.0``, ``0.50``, ``1e3``) where the embedded engine writes the number (``2``, ``0.5``, ``1000``)."""
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return False
    return "e" not in text.lower() and not value.is_integer() and repr(value) == text


# The argument holding the pattern, per regex builtin.
_PATTERN_ARGUMENT = {"regex.match": 0, "regex.split": 0, "regex.find_n": 0, "regex.is_valid": 0, "regex.replace": 1}
_CLASSES = {"d": "0-9", "s": "\\t\\n\\f\\r ", "w": "0-9A-Za-z_"}


def _matches_empty(pattern: str) -> bool:
    """Whether *pattern* (no lookarounds or word boundaries: those are refused) can match ``""``."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.search(pattern, "") is not None
    except re.error:
        return True


def _refused_in_class(pattern: str, index: int) -> bool:
    """Inside a character class: a ``[`` (Rust reads a nested class or a POSIX class, RE2 a
    literal) or Rust's set operations ``&&``, ``--``, ``~~``."""
    char = pattern[index]
    return char == "[" or (char in "&-~" and pattern[index + 1 : index + 2] == char)


def _repeat_like_re2(text: str) -> bool:
    """Whether *text* starts with a repeat ``{n}``, ``{n,}`` or ``{n,m}`` RE2 accepts (counts up to 1000)."""
    match = re.match(r"\{(\d+)(?:,(\d*))?\}", text)
    return match is not None and all(int(count) <= 1000 for count in match.groups() if count)


def translate_regex(pattern: str) -> str | None:
    """Rewrite an RE2 (Go) pattern so regorus (Rust) matches exactly what OPA matches, or None.

    Go's ``\\d \\s \\w`` are ASCII; Rust's are Unicode: they become explicit ASCII classes. Word
    boundaries, Unicode classes, flags, backreferences, hex escapes and POSIX classes are refused.
    """
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 >= len(pattern):
                return None
            escape = pattern[index + 1]
            if escape in _CLASSES:
                out.append(_CLASSES[escape] if in_class else f"[{_CLASSES[escape]}]")
            elif escape in "DSW" and not in_class:
                out.append(f"[^{_CLASSES[escape.lower()]}]")
            elif escape in "tnrf" or (not escape.isalnum() and escape.isascii() and escape.isprintable()):
                # \< and \> are literal in RE2, a word boundary in the engine's dialect.
                out.append(escape if escape in "<>" else char + escape)
            else:
                return None
            index += 2
            continue
        if in_class:
            if _refused_in_class(pattern, index):
                return None
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            out.append(char)
            index += 1
            if pattern[index : index + 1] == "^":
                out.append("^")
                index += 1
            if pattern[index : index + 1] == "]":
                return None
            continue
        elif char == "(" and pattern[index + 1 : index + 2] == "?" and pattern[index + 2 : index + 3] != ":":
            return None
        elif char == "{" and not _repeat_like_re2(pattern[index:]):
            return None
        elif char in "*+?}" and pattern[index + 1 : index + 2] in ("*", "+", "{"):
            return None
        out.append(char)
        index += 1
    return None if in_class else _compiles_like_re2("".join(out))


def _compiles_like_re2(translated: str) -> str | None:
    """*translated* when it compiles and its nested repeats stay within RE2's limit, else None."""
    import warnings

    try:
        with warnings.catch_warnings():  # Python's FutureWarnings on set syntax must not reach stderr
            warnings.simplefilter("ignore")
            re.compile(translated)
            tree = _sre_parse(translated)
    except re.error:
        return None
    return translated if _repeats_valid_in_re2(list(tree), 1000) else None


def _repeats_valid_in_re2(items: list[Any], limit: int) -> bool:
    """Go's ``repeatIsValid``: nested counted repeats (``(x{500}){3}``) make at most 1000 copies
    of the innermost thing, or RE2 refuses the pattern ("invalid repeat count") where the
    embedded engine accepts it. *items*: Python's parse of the pattern (same repeats)."""
    for op, argument in items:
        budget = limit
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            low, high, _ = argument
            count = low if high == _sre.MAXREPEAT else high
            if count == 0:
                continue
            if count > budget:
                return False
            budget //= count
        parts = argument if isinstance(argument, tuple) else ()
        nested = [p for part in parts for p in (part if isinstance(part, list) else [part])]
        if not all(_repeats_valid_in_re2(list(p), budget) for p in nested if isinstance(p, _SubPattern)):
            return False
    return True


def _literal_value(token: Token) -> str | None:
    if token.kind == "raw":
        return token.text[1:-1]
    if token.kind == "string":
        import json

        value: str = json.loads(token.text)
        return value
    return None


def _argument_token(tokens: list[Token], open_index: int, position: int) -> Token | None:
    """The argument at *position* of the call whose ``(`` is at *open_index*, if it is one token."""
    depth, current, start = 0, 0, open_index + 1
    for index in range(open_index, len(tokens)):
        token = tokens[index]
        if token.kind == "op" and token.text in "([{":
            depth += 1
        elif token.kind == "op" and token.text in ")]}":
            depth -= 1
        if (depth == 1 and token.text == ",") or depth == 0:
            if current == position:
                span = [t for t in tokens[start:index] if t.kind != "newline"]
                return span[0] if len(span) == 1 else None
            current, start = current + 1, index + 1
            if depth == 0:
                return None
    return None


def _unbalanced_groups(pattern: str) -> bool:
    """Whether the pattern's unescaped parentheses (outside classes) do not pair up: every regular
    expression engine refuses it."""
    depth, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index += 2 if pattern[index + 1 : index + 2] == "^" else 1
            index += 1 if pattern[index : index + 1] == "]" else 0  # a leading ] is literal
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return True
        index += 1
    return depth != 0 and not in_class


def _rewrite_regex_patterns(name: str, text: str, tokens: list[Token]) -> str:
    """The policy text with each regex pattern literal rewritten by :func:`translate_regex`."""
    edits: list[tuple[Token, str]] = []
    for index, token in enumerate(tokens):
        if token.kind != "ident" or (index > 0 and tokens[index - 1].text == "."):
            continue
        ref, after = _ref_at(tokens, index)
        if ref not in _PATTERN_ARGUMENT or after >= len(tokens) or tokens[after].text != "(":
            continue
        argument = _argument_token(tokens, after, _PATTERN_ARGUMENT[ref])
        pattern = _literal_value(argument) if argument is not None else None
        if argument is None or pattern is None:
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: {ref} needs a literal pattern with the embedded engine "
                "(regular expression dialects differ); use the OPA engine"
            )
        translated = translate_regex(pattern)
        if translated is None and ref == "regex.is_valid" and _unbalanced_groups(pattern):
            continue  # invalid for RE2 and for the embedded engine alike: false in both
        if translated is not None and ref == "regex.split" and _matches_empty(translated):
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: the pattern {argument.text} of regex.split can match an empty string, "
                "where Go and the embedded engine split differently; use the OPA engine"
            )
        if translated is None or "`" in translated:
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: the pattern {argument.text} of {ref} uses regular-expression syntax the "
                "embedded engine may read differently from OPA (RE2); use the OPA engine"
            )
        edits.append((argument, f"`{translated}`"))
    for argument, replacement in sorted(edits, key=lambda e: e[0].start, reverse=True):
        text = text[: argument.start] + replacement + text[argument.start + len(argument.text) :]
    return text


_SPRINTF_DIRECTIVE = re.compile(r"%(?:%|[sdvqx]|\.\d{1,2}f)")

RETURN_TYPES: dict[str, str] = {
    **dict.fromkeys(
        "count sum product round ceil floor abs to_number indexof strings.count time.parse_rfc3339_ns time.parse_ns "
        "time.parse_duration_ns time.now_ns time.add_date units.parse units.parse_bytes semver.compare".split(),
        "number",
    ),
    **dict.fromkeys(
        "upper lower concat sprintf substring replace trim trim_left trim_right trim_prefix trim_suffix trim_space "
        "strings.reverse strings.replace_n json.marshal base64.encode base64.decode base64url.encode "
        "base64url.encode_no_pad base64url.decode hex.encode hex.decode urlquery.encode crypto.sha256 crypto.sha1 "
        "crypto.md5 format_int time.format time.weekday type_name regex.replace".split(),
        "string",
    ),
    **dict.fromkeys(
        "startswith endswith contains regex.match regex.is_valid regex.template_match glob.match semver.is_valid "
        "is_string is_number is_boolean is_array is_object is_set is_null json.is_valid base64.is_valid "
        "net.cidr_contains strings.any_prefix_match strings.any_suffix_match".split(),
        "boolean",
    ),
    **dict.fromkeys(
        "split indexof_n regex.split regex.find_n time.date time.clock sort array.concat array.slice array.reverse "
        "numbers.range".split(),
        "array",
    ),
    "object.keys": "set",
    "object.remove": "object",
    "object.union": "object",
    "object.union_n": "object",
    "object.filter": "object",
    "union": "set",
    "intersection": "set",
    "array.flatten": "array",
    "numbers.range_step": "array",
    "crypto.hmac.equal": "boolean",
    **dict.fromkeys(["bits.and", "bits.or", "bits.xor", "bits.negate", "bits.lsh", "bits.rsh"], "number"),
    **dict.fromkeys(["crypto.hmac.md5", "crypto.hmac.sha1", "crypto.hmac.sha256", "crypto.hmac.sha512"], "string"),
}
_BOUNDARY = frozenset(["\n", ";", ",", ":=", "=", "==", "if", "not", "some", "in", "contains", "else", "default"])


def _check_sprintf_formats(name: str, tokens: list[Token]) -> None:
    """sprintf formats must be literals using verbs verified to match OPA (no width, flags or %t...)."""
    for index, token in enumerate(tokens):
        if token.text != "sprintf" or index + 2 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        if index > 0 and tokens[index - 1].text == ".":
            continue
        fmt = tokens[index + 2]
        if fmt.kind not in ("string", "raw") or tokens[index + 3].text != ",":
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: sprintf needs a literal format with the embedded engine; "
                "use the OPA engine"
            )
        body = fmt.text[1:-1]
        rest = _SPRINTF_DIRECTIVE.sub("", body.replace("%%", ""))
        if "%" in rest:
            raise RegoUnsupportedError(
                f"{name}: line {token.line}: sprintf format {fmt.text} uses a verb the embedded engine does not "
                "render as OPA does (supported: %s %d %v %q %x %.Nf %%); use the OPA engine"
            )


def _operand(tokens: tuple[Token, ...], start: int, step: int, limit: int) -> list[Token]:
    """The tokens of the operand next to an operator, walking from *start* by *step* (+1/-1)."""
    depth = 0
    out: list[Token] = []
    index = start
    while 0 <= index < limit:
        token = tokens[index]
        opening, closing = ("([{", ")]}") if step > 0 else (")]}", "([{")
        if token.kind == "op" and token.text in opening:
            depth += 1
        elif token.kind == "op" and token.text in closing:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (token.kind == "newline" or token.text in _BOUNDARY):
            # `contains(` is the builtin, not the keyword of a partial set rule.
            call = token.text == "contains" and index + 1 < limit and tokens[index + 1].text == "("
            if not call:
                break
        out.append(token)
        index += step
    return out if step > 0 else out[::-1]


def _type_of(operand: list[Token], variables: dict[str, str]) -> str | None:
    # Long by design: one branch per Rego expression kind, mirroring OPA's type checker.
    if not operand:
        return None
    first, last = operand[0], operand[-1]
    if first.text == "(" and _closes_at(operand, 0) == len(operand) - 1:
        return _type_of(operand[1:-1], variables)
    depth = 0
    top_level: set[str] = set()
    for token in operand:
        if token.kind == "op" and token.text in "([{":
            depth += 1
        elif token.kind == "op" and token.text in ")]}":
            depth -= 1
        elif depth == 0 and token.kind == "op":
            top_level.add(token.text)
    top_level.discard(".")
    if len(operand) == 2 and first.text == "-" and last.kind == "number":
        return "number"
    if top_level & {"<", ">", "<=", ">=", "!=", "=="}:
        return "boolean"
    if top_level & {"+", "*", "/", "%"}:
        return "number"
    if top_level == {"-"}:
        return "number|set"
    if top_level and top_level <= {"|", "&"}:
        return "set"
    if top_level:
        return None
    if len(operand) == 1:
        if first.kind in ("string", "raw"):
            return "string"
        if first.kind == "number":
            return "number"
        if first.text in ("true", "false"):
            return "boolean"
        if first.text == "null":
            return "null"
        if first.kind == "ident":
            return variables.get(first.text)
        return None
    if first.text == "[" and last.text == "]" and _closes_at(operand, 0) == len(operand) - 1:
        return "array"
    if first.text == "{" and last.text == "}" and _closes_at(operand, 0) == len(operand) - 1:
        level, seen = 0, set()
        for token in operand[1:-1]:
            if token.kind == "op" and token.text in "([{":
                level += 1
            elif token.kind == "op" and token.text in ")]}":
                level -= 1
            elif level == 0 and token.text in (":", "|"):
                seen.add(token.text)
                if token.text == "|":
                    break
        return "object" if ":" in seen or len(operand) == 2 else "set"
    if first.kind == "ident" and last.text == ")":
        ref_parts = [first.text]
        index = 1
        while index + 1 < len(operand) and operand[index].text == "." and operand[index + 1].kind == "ident":
            ref_parts.append(operand[index + 1].text)
            index += 2
        if index < len(operand) and operand[index].text == "(" and _closes_at(operand, index) == len(operand) - 1:
            return RETURN_TYPES.get(".".join(ref_parts))
    return None


def _closes_at(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index].kind == "op" and tokens[index].text in "([{":
            depth += 1
        elif tokens[index].kind == "op" and tokens[index].text in ")]}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _check_unification_types(name: str, result: Scan) -> None:
    """Refuse ``a == b`` where both sides have known, different types: OPA's type checker rejects it."""
    tokens = result.tokens
    bounds = [*result.statements, len(tokens)]
    rule_types: dict[str, set[str | None]] = {}
    for start, end in itertools.pairwise(bounds):
        head = tokens[start]
        if head.kind == "ident" and start + 1 < end and tokens[start + 1].text in (":=", "="):
            rule_types.setdefault(head.text, set()).add(_type_of(_operand(tokens, start + 2, 1, end), {}))
        elif head.text == "default" and start + 2 < end and tokens[start + 2].text in (":=", "="):
            rule_types.setdefault(tokens[start + 1].text, set()).add(_type_of(_operand(tokens, start + 3, 1, end), {}))
        elif head.kind == "ident":
            rule_types.setdefault(head.text, set()).add(None)
    known = {rule: next(iter(types)) for rule, types in rule_types.items() if len(types) == 1 and None not in types}
    for start, end in itertools.pairwise(bounds):
        variables: dict[str, str] = {k: v for k, v in known.items() if v is not None}
        for index in range(start, end):
            token = tokens[index]
            if token.kind != "op":
                continue
            if token.text == ":=" and index > start and tokens[index - 1].kind == "ident" and index - 1 != start:
                kind = _type_of(_operand(tokens, index + 1, 1, end), variables)
                if kind is not None:
                    variables[tokens[index - 1].text] = kind
                else:
                    variables.pop(tokens[index - 1].text, None)
            elif token.text == "==":
                left = _type_of(_operand(tokens, index - 1, -1, end), variables)
                right = _type_of(_operand(tokens, index + 1, 1, end), variables)
                if left is not None and right is not None and not set(left.split("|")) & set(right.split("|")):
                    raise RegoUnsupportedError(
                        f"{name}: line {token.line}: comparing a {left} with a {right} with == is a type error "
                        "OPA refuses to compile"
                    )


def check_calls(name: str, result: Scan, *, embedded: bool) -> None:
    """Refuse calls to refused builtins, and (embedded engine) to builtins not verified against OPA."""
    if embedded and result.literal_refusals:
        raise RegoUnsupportedError(result.literal_refusals[0])
    for call in result.calls:
        reason = REFUSED_BUILTINS.get(call.name)
        if reason is None:
            reason = next((why for prefix, why in REFUSED_PREFIXES.items() if call.name.startswith(prefix)), None)
        if reason is not None:
            raise RegoUnsupportedError(
                f"{name}: line {call.line}: builtin {call.name} is refused: it {reason}; "
                "an offline verifier never runs it"
            )
        if call.name in result.functions:
            continue
        if call.name.startswith(("data.", "input.")):
            raise RegoUnsupportedError(f"{name}: line {call.line}: calling {call.name} is not supported")
        if not embedded:
            continue
        if call.name in EMBEDDED_BUILTINS:
            continue
        if call.name in OTHER_OPA_BUILTINS:
            raise RegoUnsupportedError(
                f"{name}: line {call.line}: builtin {call.name} is not supported by attestkit's embedded Rego engine "
                "(not verified to match OPA); use the OPA engine to evaluate it with OPA"
            )
        raise RegoUnsupportedError(f"{name}: line {call.line}: undefined function {call.name}")
    for function in result.functions:
        if function in EMBEDDED_BUILTINS or function in OTHER_OPA_BUILTINS or function in REFUSED_BUILTINS:
            raise RegoUnsupportedError(f"{name}: function {function} has the name of a builtin")


__all__ = [
    "EMBEDDED_BUILTINS",
    "PACKAGE",
    "REFUSED_BUILTINS",
    "Call",
    "Scan",
    "Token",
    "check_calls",
    "scan",
    "tokenize",
]
