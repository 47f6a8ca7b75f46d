"""Core messages never name CLI flags (issue 17, item 4).

The core says what is wrong in library terms (the keyword argument, the engine, the function);
the CLI names its own flags where it prints (:func:`attestkit.cli.params.cli_wording`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from attestkit.cli.params import FLAG_WORDING, cli_wording
from attestkit.core.policy.loader import load_policy_text
from attestkit.core.produce.resign import plan_signing
from attestkit.core.timeutil import parse_instant
from attestkit.core.verify.verifier import VerifyOptions
from attestkit.errors import AttestkitError, UsageError
from tests.conftest import make_receipt

CORE = Path(__file__).resolve().parents[2] / "attestkit" / "core"
# A flag: two dashes and a word, not inside a longer word; CSS custom properties
# (``--ok:#1a7f37``, ``var(--ok)``) are not flags.
FLAG = re.compile(r"(?<![\w-])(?<!var\()--[a-z][a-z0-9-]*(?![a-z0-9-])(?!:\S)")
# Literals the CLI still prints as they are (cli/cmd_verify.py renders check messages without
# cli_wording); each with its reason.
ALLOWED = {
    ("receipt/dsse.py", "verify --summary FILE"): "a check message verify prints for a VSA given as a receipt",
}


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal but docstrings (bare string statements); f-strings with ``{}`` for each field."""
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in bare:
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, str(text)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare:
            found.append((node.lineno, node.value))
    return found


def _core_literals() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted(CORE.rglob("*.py")):
        name = path.relative_to(CORE).as_posix()
        out.extend((name, line, text) for line, text in _literals(ast.parse(path.read_text(encoding="utf-8"))))
    return out


def test_no_core_string_literal_names_a_cli_flag() -> None:
    offenders = []
    for name, line, text in _core_literals():
        if any(name == file and part in text for file, part in ALLOWED):
            continue
        if FLAG.search(text):
            offenders.append(f"attestkit/core/{name}:{line}: {text[:100]!r}")
    assert offenders == [], "core messages must name settings in library terms:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "text",
    ["use --rego-engine opa", "(--builder-id URI)", "--now: bad", "pass --signer ID", "x --json y"],
)
def test_the_detector_sees_flags(text: str) -> None:
    assert FLAG.search(text)


@pytest.mark.parametrize("text", [":root{--ok:#1a7f37;--bad:#cf222e}", "color: var(--muted)", "a-b--c", "-- note"])
def test_the_detector_leaves_css_and_dashes_alone(text: str) -> None:
    assert not FLAG.search(text)


def test_every_allowed_literal_is_still_there() -> None:
    literals = _core_literals()
    for file, part in ALLOWED:
        assert any(name == file and part in text for name, _, text in literals), (file, part)


def test_every_library_wording_the_cli_rewrites_occurs_in_the_core() -> None:
    """A core message reworded without the table would lose its flag hint in the CLI."""
    from attestkit.core.produce.drafts import check_run_id

    # Literals, and a message composed at run time from a default argument.
    texts = [text for _, _, text in _core_literals()] + [str(_error(lambda: check_run_id("")))]
    for library, flag in FLAG_WORDING:
        assert not FLAG.search(library) and FLAG.search(flag), (library, flag)
        assert any(library.split("{}")[0] in text for text in texts), f"no core message says {library!r}"


def _error(call: object) -> AttestkitError:
    with pytest.raises(AttestkitError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_library_errors_name_keyword_arguments_and_the_cli_names_flags() -> None:
    from attestkit.core.crypto.keys import PrivateKey

    key = PrivateKey.generate().public_key
    both = _error(lambda: plan_signing(make_receipt(), key, signer="a", no_signer=True))
    assert str(both) == "signer and no_signer contradict each other; give one"
    assert cli_wording(str(both)) == "--signer and --no-signer contradict each other; give one"
    signed = dict(make_receipt(), signature="ed25519:" + "00" * 64, signer_public_key=key.text, signer="x@y")
    refused = _error(lambda: plan_signing(signed, key))
    assert "pass replace_signature to replace" in str(refused) and "--" not in str(refused)
    assert "pass --replace-signature to replace" in cli_wording(str(refused))
    assert "pass --signer ID to record an identity or --no-signer to drop" in cli_wording(str(refused))
    log = _error(lambda: VerifyOptions(integrity_only=True, require_log=True))
    assert isinstance(log, UsageError) and log.option == "log_policy" and "--" not in str(log)
    assert cli_wording(str(log)) == "a log proof (or --require-log) needs a witness policy (--log-policy)"


def test_rego_refusals_name_the_engine_and_the_cli_its_flag() -> None:
    text = b'package attest.verification\n\ndeny contains "x" if {\n\tyaml.unmarshal("a: y")\n}\n'
    refusal = _error(lambda: load_policy_text("p.rego", text))
    assert "use the OPA engine" in str(refusal) and "--" not in str(refusal)
    assert "use --rego-engine opa" in cli_wording(str(refusal))


@pytest.mark.parametrize("text", ["yesterday", "99999999999999", "2026-13-01T00:00:00Z"])
def test_an_instant_error_names_the_setting_not_the_flag(text: str) -> None:
    exc = _error(lambda: parse_instant(text))
    assert isinstance(exc, UsageError) and exc.option == "now" and str(exc).startswith("now: ")
    assert "--" not in str(exc)
