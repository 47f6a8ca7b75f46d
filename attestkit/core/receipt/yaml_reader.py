"""Strict YAML reading: one document, YAML 1.2 core-schema scalars, plain data only.

Built from the parser's event stream rather than a loader so that anchors, aliases, tags,
merge keys, duplicate keys and non-string keys can be refused with a line number. A
``%YAML`` directive other than 1.2 is refused: it says the plain scalars mean what YAML 1.1
(or another version) says, which is not how they are read here.
:func:`yaml11_differences` finds the plain scalars a YAML 1.1 reader (PyYAML's ``safe_load``,
Ruby's Psych, libyaml-based tools) would read differently, for ``sign`` to warn about.
Imported only when a YAML receipt or rule file is read.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from attestkit.core.textsafe import shown_key
from attestkit.errors import MalformedReceiptError

_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(inf|Inf|INF)\Z|\.(nan|NaN|NAN)\Z")
_NULLS = frozenset(["", "~", "null", "Null", "NULL"])
# An integer literal longer than this can never lie within +/-(2^53-1); refusing it here also
# keeps Python's 4,300-digit int() limit (a bare ValueError) out of the error model.
MAX_INTEGER_DIGITS = 400

try:  # libyaml's parser when available: same events, much faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader


def _resolve_plain(value: str, source: str, line: int) -> Any:
    if value in _NULLS:
        return None
    if value == "true":
        return True
    if value == "false":
        return False
    if _INT_DEC.match(value) or _INT_OCT.match(value) or _INT_HEX.match(value):
        if len(value) > MAX_INTEGER_DIGITS:
            raise MalformedReceiptError(
                f"integer literal of {len(value)} characters is outside +/-(2^53-1)",
                source=source,
                where=f"line {line}",
                code="integer-range",
            )
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value, 10)
    if _FLOAT.match(value):
        number = float(value)
        if math.isinf(number):
            raise MalformedReceiptError(
                "number overflows to Infinity", source=source, where=f"line {line}", code="non-finite"
            )
        return number
    if _SPECIAL_FLOAT.match(value):
        raise MalformedReceiptError(
            "NaN and Infinity are not allowed", source=source, where=f"line {line}", code="non-finite"
        )
    return value


def _version_error(version: str, source: str, where: str) -> MalformedReceiptError:
    return MalformedReceiptError(
        f"%YAML {version} directive: attestkit reads YAML 1.2 (core schema), where plain scalars such as "
        f"08, 012, 0o22, 12e4, 1_000, yes/no/on/off mean something other than in YAML {version}; re-encode it: "
        "quote those scalars and write %YAML 1.2 (or no directive), or convert the receipt to JSON",
        source=source,
        where=where,
        code="yaml-version",
    )


def _fail(message: str, source: str, event: Any, code: str) -> MalformedReceiptError:
    mark = getattr(event, "start_mark", None)
    line = mark.line + 1 if mark is not None else 0
    return MalformedReceiptError(message, source=source, where=f"line {line}", code=code)


def parse_yaml_text(text: str, source: str) -> Any:
    """Parse one YAML document of plain data; raise :class:`MalformedReceiptError`."""
    # Long by design: one walk over PyYAML's events; each branch is one rule of the strict subset.
    # Each frame: [container, pending_key_or_None, key_lines]
    stack: list[list[Any]] = []
    result: Any = None
    documents = 0
    have_result = False
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise _fail("YAML aliases are not allowed", source, event, "yaml-alias")
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail("more than one YAML document", source, event, "yaml-documents")
                version = getattr(event, "version", None)
                if version is not None and tuple(version) != (1, 2):
                    line = event.start_mark.line + 1 if event.start_mark is not None else 0
                    raise _version_error(".".join(str(v) for v in version), source, f"line {line}")
                continue
            if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if event.anchor is not None:
                    raise _fail("YAML anchors are not allowed", source, event, "yaml-anchor")
                if event.tag is not None:
                    raise _fail(f"YAML tags are not allowed ({event.tag})", source, event, "yaml-tag")
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                value: Any
                if isinstance(event, yaml.ScalarEvent):
                    if not event.style:
                        value = _resolve_plain(event.value, source, line)
                    else:
                        value = event.value
                    is_plain_merge = not event.style and event.value == "<<"
                elif isinstance(event, yaml.MappingStartEvent):
                    value = {}
                    is_plain_merge = False
                else:
                    value = []
                    is_plain_merge = False
                if stack:
                    frame = stack[-1]
                    container = frame[0]
                    if isinstance(container, dict):
                        if frame[1] is None:
                            # This event is a key.
                            if not isinstance(event, yaml.ScalarEvent) or not isinstance(value, str):
                                raise _fail("object keys must be strings", source, event, "non-string-key")
                            if is_plain_merge:
                                raise _fail("YAML merge keys are not allowed", source, event, "yaml-merge")
                            if value in container:
                                raise _fail(f"duplicate object key {shown_key(value)}", source, event, "duplicate-key")
                            frame[1] = (value,)
                            continue
                        key = frame[1][0]
                        frame[1] = None
                        container[key] = value
                    else:
                        container.append(value)
                else:
                    result = value
                    have_result = True
                if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    stack.append([value, None])
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        if "incompatible YAML document" in problem:
            found = re.search(r"%YAML\s+(\S+)", text)
            raise _version_error(found.group(1)[:16] if found else "other than 1.2", source, where) from None
        raise MalformedReceiptError(f"invalid YAML: {problem}", source=source, where=where, code="syntax") from None
    except yaml.YAMLError as exc:
        raise MalformedReceiptError(f"invalid YAML: {type(exc).__name__}", source=source, code="syntax") from None
    except RecursionError:
        raise MalformedReceiptError("nesting too deep", source=source, code="depth") from None
    if not have_result:
        raise MalformedReceiptError("empty YAML document", source=source, code="empty")
    return result


def _yaml11_value(value: str) -> Any:
    """What a YAML 1.1 reader (PyYAML's safe resolver and constructor) makes of a plain scalar."""
    resolver: Any = yaml.resolver.Resolver()
    tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
    if tag == "tag:yaml.org,2002:timestamp":
        return value  # read as a date there, a string here: deliberate (the contract keeps timestamps text)
    return yaml.constructor.SafeConstructor().construct_object(yaml.ScalarNode(tag, value))


def yaml11_differences(text: str, source: str, limit: int = 20) -> list[str]:
    """Plain scalars in *text* that a YAML 1.1 reader reads differently from attestkit (YAML 1.2).

    One ``line N: VALUE is <ours> here, <theirs> in YAML 1.1`` string per scalar, at most
    *limit*; nothing for text that does not parse (reading it reports that). Timestamps, which
    YAML 1.1 readers turn into dates, are not listed: receipts keep them as text by contract.
    """
    found: list[str] = []
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if not isinstance(event, yaml.ScalarEvent) or event.style or event.tag is not None:
                continue
            try:
                ours = _resolve_plain(event.value, source, 0)
                theirs = _yaml11_value(event.value)
            except Exception:  # noqa: S112 - a value either reader refuses is reported when it is read
                continue
            if type(ours) is not type(theirs) or ours != theirs:
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                found.append(f"line {line}: {event.value[:40]!r} is {ours!r} here, {theirs!r} in YAML 1.1")
                if len(found) >= limit:
                    break
    except yaml.YAMLError:
        return found
    return found


class _StrictDumper(yaml.SafeDumper):
    """Quotes every string that the strict reader would not read back as that string."""

    def ignore_aliases(self, data: Any) -> bool:
        # Shared objects are written out in full: the strict reader refuses anchors.
        return True


# Characters a YAML reader may fold or drop outside double quotes: PyYAML writes U+0085 raw in a
# single-quoted scalar and reads it back as a space. Double quotes escape them (\N, \L, \P...).
_NEEDS_ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    try:
        plain_ok = _resolve_plain(value, "", 0) == value and isinstance(_resolve_plain(value, "", 0), str)
    except Exception:
        plain_ok = False
    if not plain_ok or value == "<<" or _NEEDS_ESCAPES.search(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_StrictDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """YAML text that the strict reader reads back as exactly *data*."""
    text: str = yaml.dump(data, Dumper=_StrictDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text


__all__ = ["dump_yaml", "parse_yaml_text", "yaml11_differences"]
