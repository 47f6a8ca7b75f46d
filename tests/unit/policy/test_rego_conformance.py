"""The shared Rego conformance corpus: OPA's verdict on every case, or a refusal (exit 2).

../shared/rego-conformance holds 40 policies x 5 signed receipts and the decisions OPA 1.20.2
made on them. Every case runs through the installed command path (`python -m attestkit verify
... --policy-file P --json`, one process per policy verifying its five receipts) and through the
library. Required: no fail-open, no false reject, no different violations, and every case OPA
could not compile or evaluate is exit 2. Refusals are counted and printed (aim: under 10%).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit.cli.cmd_verify import build_options, load_policies
from attestkit.cli.params import cli_wording
from attestkit.core.verify.verifier import verify_with_options
from attestkit.errors import AttestkitError
from tests.conftest import CliResult

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("ATTESTKIT_REGO_CORPUS", ROOT.parent / "shared" / "rego-conformance"))
ALLOW_MESSAGE = "allow is not true"


def _expected() -> dict[str, Any]:
    path = CORPUS / "expected-opa.json"
    if not CORPUS.is_dir():
        pytest.skip(f"Rego conformance corpus not found at {CORPUS}")
    assert path.exists(), f"{path} missing from the corpus"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def judge(case: dict[str, Any], code: int, messages: list[str]) -> str:
    """agree / refused, or the kind of disagreement."""
    expected = case["expected_exit"]
    if expected == 2:
        return "agree" if code == 2 else "accepted-opa-error"
    if code == 2:
        return "refused"
    if expected == 1 and code == 0:
        return "fail-open"
    if expected == 0 and code == 1:
        return "false-reject"
    deny = sorted(m for m in messages if m != ALLOW_MESSAGE)
    allow_violations = len(messages) - len(deny)
    expected_allow = 1 if case["allow_rule"] and case["allow"] is not True else 0
    if deny != sorted(case["deny"]) or allow_violations != expected_allow or len(messages) != case["violations"]:
        return "different-violations"
    return "agree"


def _report(kinds: Counter[str], total: int, how: str) -> None:
    refused = kinds["refused"]
    print(f"\nRego conformance ({how}): {dict(kinds)}; refused {refused}/{total} ({100 * refused / total:.1f}%)")


def _assert_clean(kinds: Counter[str], details: list[str], total: int) -> None:
    bad = {k: v for k, v in kinds.items() if k not in ("agree", "refused")}
    assert not bad, "\n".join(details)
    assert kinds["refused"] < total * 0.15, f"refused {kinds['refused']} of {total}:\n" + "\n".join(details)


def test_corpus_through_the_library() -> None:
    expected = _expected()
    key = str(CORPUS / "receipts" / "k.pub.pem")
    kinds: Counter[str] = Counter()
    details: list[str] = []
    for case in expected["cases"]:
        try:
            policies = load_policies((), (str(CORPUS / case["policy"]),), None, True)
            options = build_options((key,), (), False, policies, None, False, None, expected["now"], "5m", None)
            document = json.loads((CORPUS / "receipts" / case["receipt"]).read_text(encoding="utf-8"))
            result = verify_with_options(document, options, source=case["receipt"]).to_dict()
            code = 0 if result["valid"] else 1
            messages = [v["message"] for v in result["policy_compliance"]["violations"]]
        except AttestkitError as exc:
            code, messages = exc.exit_code, [str(exc)]
        kind = judge(case, code, messages)
        kinds[kind] += 1
        if kind != "agree":
            details.append(f"{kind}: {case['policy']} x {case['receipt']}: exit {code} {messages}")
    _report(kinds, len(expected["cases"]), "library")
    _assert_clean(kinds, details, len(expected["cases"]))


def test_corpus_through_the_cli(cli: Callable[..., CliResult]) -> None:
    expected = _expected()
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for case in expected["cases"]:
        by_policy.setdefault(case["policy"], []).append(case)
    kinds: Counter[str] = Counter()
    details: list[str] = []
    for policy, cases in sorted(by_policy.items()):
        receipts = [str(CORPUS / "receipts" / c["receipt"]) for c in cases]
        done = cli(
            "verify", *receipts, "--now", expected["now"], "--public-key", str(CORPUS / "receipts" / "k.pub.pem"),
            "--policy-file", str(CORPUS / policy), "--json", cwd=ROOT,
        )  # fmt: skip
        assert "Traceback" not in done.err, done.err
        lines = [json.loads(line) for line in done.out.splitlines()]
        if not lines:  # the policy itself was refused at load time: one line on stderr, exit 2
            assert done.code == 2 and done.err.count("\n") == 1, done.err
            codes = {c["receipt"]: (2, [done.err.strip()]) for c in cases}
        else:
            assert len(lines) == len(cases), done.out
            codes = {}
            for line in lines:
                name = Path(line["receipt"]).name
                if "error" in line:
                    codes[name] = (2, [line["error"]["message"]])
                else:
                    messages = [v["message"] for v in line["policy_compliance"]["violations"]]
                    codes[name] = (0 if line["valid"] else 1, messages)
            worst = 2 if any(c == 2 for c, _ in codes.values()) else max(c for c, _ in codes.values())
            assert done.code == worst, (policy, done.code, done.err)
        for case in cases:
            code, messages = codes[case["receipt"]]
            kind = judge(case, code, messages)
            kinds[kind] += 1
            if kind != "agree":
                details.append(f"{kind}: {policy} x {case['receipt']}: exit {code} {messages}")
    _report(kinds, len(expected["cases"]), "CLI")
    _assert_clean(kinds, details, len(expected["cases"]))


def test_policy_check_sees_every_load_time_refusal(cli: Callable[..., CliResult]) -> None:
    """`policy check` passing a corpus policy means `verify` never refuses it for a load-time
    reason (only a runtime "could not evaluate", rego-eval); one it fails, verify refuses alike."""
    expected = _expected()
    policies = sorted({case["policy"] for case in expected["cases"]})
    done = cli("policy", "check", *policies, cwd=CORPUS)
    assert "Traceback" not in done.err, done.err
    passed = {line.split(maxsplit=1)[1] for line in done.out.splitlines() if line.startswith("ok  ")}
    prefix = "attestkit: error: "
    assert all(line.startswith(prefix) for line in done.err.splitlines()), done.err
    refused = {line.split(":", 3)[2].strip(): line[len(prefix) :] for line in done.err.splitlines()}
    assert passed | set(refused) == set(policies) and not passed & set(refused), (done.out, done.err)
    assert done.code == (2 if refused else 0)
    key = str(CORPUS / "receipts" / "k.pub.pem")
    for case in expected["cases"]:
        path = str(CORPUS / case["policy"])
        try:
            loaded = load_policies((), (path,), None, True)
            options = build_options((key,), (), False, loaded, None, False, None, expected["now"], "5m", None)
            document = json.loads((CORPUS / "receipts" / case["receipt"]).read_text(encoding="utf-8"))
            verify_with_options(document, options, source=case["receipt"])
        except AttestkitError as exc:
            if case["policy"] in passed:
                assert exc.code == "rego-eval", f"policy check passed {case['policy']} but verify refused it: {exc}"
            else:
                shown = cli_wording(str(exc)).replace(path, case["policy"])  # the CLI names its flags
                assert shown == refused[case["policy"]], (shown, refused[case["policy"]])
        else:
            assert case["policy"] in passed, f"policy check refused {case['policy']} but verify loaded it"
