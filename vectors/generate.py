"""Generate vectors/receipts.json and vectors/demo/ (run: python vectors/generate.py).

Every signed vector is produced twice: by attestkit, and independently with the
``rfc8785`` package (canonical JSON) and ``cryptography`` (Ed25519). The script stops if
the two disagree, so the committed expectations are cross-checked. Keys are derived from
fixed labels so the output is reproducible; they are public test keys, never trust them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import rfc8785
from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.core.timeutil import parse_rfc3339

HERE = Path(__file__).resolve().parent
if len(sys.argv) > 1:  # optional output folder, used by the reproducibility test
    HERE = Path(sys.argv[1]).resolve()
NOW = "2026-11-20T12:00:00Z"
L_ORDER = 2**252 + 27742317777372353535851937790883648493


def seed_for(label: str) -> bytes:
    """A fixed 32-byte seed for a named test key."""
    return hashlib.sha256(f"attestkit test vector key: {label}".encode()).digest()


def independent_sign(receipt: dict[str, Any], seed: bytes) -> dict[str, Any]:
    """Sign with rfc8785 + cryptography only (no attestkit code)."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    from cryptography.hazmat.primitives import serialization

    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    draft = {k: v for k, v in receipt.items() if k != "signature"}
    draft["signer_public_key"] = "ed25519:" + raw_pub.hex()
    draft["signature_algorithm"] = "ed25519"
    draft["signature"] = "ed25519:" + key.sign(rfc8785.dumps(draft)).hex()
    return draft


def signed(receipt: dict[str, Any], seed: bytes) -> dict[str, Any]:
    """Sign with attestkit and insist the independent path gives the same bytes."""
    ours = sign_receipt(receipt, PrivateKey.from_seed(seed))
    theirs = independent_sign(receipt, seed)
    if ours != theirs:
        raise SystemExit("attestkit and rfc8785+cryptography disagree on a signature")
    return ours


def digest(data: bytes) -> str:
    return "blake3:" + blake3(data).hexdigest()


def base_receipt() -> dict[str, Any]:
    return {
        "pipeline_hash": digest(b"version: '0.1'\n"),
        "timestamp": "2026-11-20T10:00:00Z",
        "total_duration_secs": 45.0,
        "attest_version": "0.1.0",
        "environment": {"host_os": "linux", "host_arch": "x86_64", "user": "ci", "working_directory": "/build"},
        "steps": [
            {
                "name": "build",
                "command": "make build",
                "exit_code": 0,
                "duration_secs": 12.5,
                "start_time": "2026-11-20T09:59:00Z",
                "end_time": "2026-11-20T09:59:12.5Z",
                "inputs": [{"path": "src/", "hash": digest(b""), "size_bytes": 0}],
                "outputs": [{"path": "dist/app.bin", "hash": digest(b"app"), "size_bytes": 3}],
                "cache_hit": False,
            }
        ],
        "attestations": {
            "test": {"type": "attest/test", "predicate": {"test_results": {"total": 10, "passed": 10, "failed": 0}}},
            "security": {
                "type": "attest/security",
                "predicate": {"results": {"vulnerabilities": {"critical": 0, "high": 1}}},
            },
        },
    }


def edge_receipt() -> dict[str, Any]:
    receipt = base_receipt()
    receipt["numbers"] = [1e-7, 45.0, -0.0, 1e21, 1e20, 0.1, 2**53 - 1, -(2**53 - 1), 5e-324, 123456.789]
    receipt["unicode"] = {
        "\u00e9t\u00e9": "caf\u00e9",
        "\U0001f600": "non-BMP key",
        "\ue000": "private use",
        "tab": "a\tb\u2028",
    }
    nested: Any = "leaf"
    for _ in range(62):  # with the receipt object and this key, 63 containers: within 64
        nested = [nested]
    receipt["nested"] = nested
    return receipt


def case(name: str, document: str | bytes, fmt: str, expected: str, rule: str = "") -> dict[str, Any]:
    exit_code = {"valid": 0, "invalid": 1, "malformed": 1}[expected]
    entry: dict[str, Any] = {"name": name, "format": fmt, "expected": expected, "exit_code": exit_code}
    if rule:
        entry["rule"] = rule
    if isinstance(document, bytes):
        entry["document_hex"] = document.hex()
    else:
        entry["document"] = document
    return entry


def as_json(receipt: dict[str, Any]) -> str:
    return json.dumps(receipt, ensure_ascii=False, indent=2)


def build_cases(seed: bytes, other_seed: bytes) -> list[dict[str, Any]]:
    good = signed(base_receipt(), seed)
    edge = signed(edge_receipt(), seed)
    cases = [
        case("valid-basic", as_json(good), "json", "valid"),
        case("valid-edge-numbers-unicode-depth", as_json(edge), "json", "valid"),
        case("valid-yaml", receipt_to_text(good, "yaml"), "yaml", "valid"),
        case("valid-ascii-escaped", json.dumps(edge, ensure_ascii=True), "json", "valid"),
    ]
    tampered = copy.deepcopy(good)
    tampered["steps"][0]["exit_code"] = 1
    cases.append(case("invalid-tampered-field", as_json(tampered), "json", "invalid", "bad-signature"))
    cases.append(
        case("invalid-untrusted-key", as_json(signed(base_receipt(), other_seed)), "json", "invalid", "untrusted-key")
    )
    future = base_receipt()
    future["timestamp"] = "2026-11-20T12:10:00Z"
    cases.append(case("invalid-future-timestamp", as_json(signed(future, seed)), "json", "invalid", "future"))
    within = base_receipt()
    within["timestamp"] = "2026-11-20T12:04:00+00:00"
    cases.append(case("valid-future-within-tolerance", as_json(signed(within, seed)), "json", "valid"))
    offset = base_receipt()
    offset["timestamp"] = "2026-11-20T13:00:00+02:00"
    cases.append(case("valid-timestamp-offset", as_json(signed(offset, seed)), "json", "valid"))
    unsigned = base_receipt()
    cases.append(case("invalid-unsigned", as_json(unsigned), "json", "invalid", "unsigned"))
    high_s = copy.deepcopy(good)
    sig = bytes.fromhex(good["signature"][8:])
    s_value = int.from_bytes(sig[32:], "little") + L_ORDER
    high_s["signature"] = "ed25519:" + (sig[:32] + s_value.to_bytes(32, "little")).hex()
    cases.append(case("invalid-non-canonical-s", as_json(high_s), "json", "invalid", "bad-signature"))
    small = copy.deepcopy(good)
    small["signer_public_key"] = "ed25519:" + "01" + "00" * 31  # the identity point: small order
    cases.append(case("invalid-small-order-embedded-key", as_json(small), "json", "invalid", "weak-key"))

    text = as_json(good)
    cases += [
        case(
            "malformed-duplicate-key",
            text.replace('"attest_version": "0.1.0"', '"attest_version": "0.1.0", "attest_version": "0.2.0"'),
            "json",
            "malformed",
            "duplicate-key",
        ),
        case(
            "malformed-nan",
            text.replace('"total_duration_secs": 45.0', '"total_duration_secs": NaN'),
            "json",
            "malformed",
            "non-finite",
        ),
        case(
            "malformed-infinity",
            text.replace('"total_duration_secs": 45.0', '"total_duration_secs": Infinity'),
            "json",
            "malformed",
            "non-finite",
        ),
        case(
            "malformed-overflow-number",
            text.replace('"total_duration_secs": 45.0', '"total_duration_secs": 1e400'),
            "json",
            "malformed",
            "non-finite",
        ),
        case(
            "malformed-lone-surrogate",
            text.replace('"user": "ci"', '"user": "\\ud800"'),
            "json",
            "malformed",
            "lone-surrogate",
        ),
        case(
            "malformed-integer-range",
            text.replace('"total_duration_secs": 45.0', '"total_duration_secs": 9007199254740992'),
            "json",
            "malformed",
            "integer-range",
        ),
        case(
            "malformed-depth-65",
            text.replace('"user": "ci"', '"user": ' + "[" * 63 + "1" + "]" * 63),
            "json",
            "malformed",
            "depth",
        ),
        case(
            "malformed-not-utf8",
            text.replace('"ci"', '"c\x00i"').encode().replace(b"\x00", b"\xff"),
            "json",
            "malformed",
            "encoding",
        ),
        case("malformed-top-level-array", "[" + text + "]", "json", "malformed", "type"),
        case("malformed-syntax", text[:-2], "json", "malformed", "syntax"),
    ]
    for label, path in [
        ("dotdot", "../etc/passwd"),
        ("dotdot-inside", "dist/../dist/app.bin"),
        ("absolute", "/etc/passwd"),
        ("backslash", "dist\\app.bin"),
        ("drive", "C:/app.bin"),
    ]:
        bad = copy.deepcopy(good)
        bad["steps"][0]["outputs"][0]["path"] = path
        cases.append(case(f"malformed-path-{label}", as_json(bad), "json", "malformed", "unsafe-path"))
    yaml_text = receipt_to_text(good, "yaml")
    cases += [
        case(
            "malformed-yaml-anchor-alias",
            yaml_text.replace("environment:\n", "environment: &env\n", 1) + "copy: *env\n",
            "yaml",
            "malformed",
            "yaml-anchor",
        ),
        case(
            "malformed-yaml-tag",
            yaml_text.replace("attest_version: 0.1.0", "attest_version: !!str 0.1.0"),
            "yaml",
            "malformed",
            "yaml-tag",
        ),
        case("malformed-yaml-merge-key", yaml_text + "extra:\n  <<: {a: 1}\n", "yaml", "malformed", "yaml-merge"),
        case("malformed-yaml-non-string-key", yaml_text + "extra:\n  1: one\n", "yaml", "malformed", "non-string-key"),
        case(
            "malformed-yaml-duplicate-key", yaml_text + "attest_version: again\n", "yaml", "malformed", "duplicate-key"
        ),
        case(
            "malformed-yaml-nan",
            yaml_text.replace("total_duration_secs: 45.0", "total_duration_secs: .nan"),
            "yaml",
            "malformed",
            "non-finite",
        ),
    ]
    yes_string = base_receipt()
    yes_string["flag"] = "yes"
    cases.append(
        case(
            "valid-yaml-yes-is-a-string",
            receipt_to_text(signed(yes_string, seed), "yaml").replace('flag: "yes"', "flag: yes"),
            "yaml",
            "valid",
        )
    )
    timestamp_string = base_receipt()
    timestamp_string["built_on"] = "2026-11-20"
    cases.append(
        case(
            "valid-yaml-timestamp-stays-string",
            receipt_to_text(signed(timestamp_string, seed), "yaml").replace(
                'built_on: "2026-11-20"', "built_on: 2026-11-20"
            ),
            "yaml",
            "valid",
        )
    )
    return cases


DEMO_PIPELINE = b"""version: "0.1"
name: demo
env:
  NODE_ENV: production
steps:
  build:
    run: mkdir -p dist/docs && printf 'attestkit demo binary\\n' > dist/app.bin && printf 'Demo artifact tree.\\n' > dist/docs/README.txt
    inputs: [src/]
    outputs: [dist/]
  test:
    run: test -s dist/app.bin
    inputs: [dist/app.bin]
    needs: [build]
"""
DEMO_JUNIT = b'<testsuite name="demo" tests="3" failures="0" errors="0" skipped="0"><testcase name="a"/><testcase name="b"/><testcase name="c"/></testsuite>\n'
DEMO_TRIVY = b'{"Results": [{"Target": "dist/app.bin", "Vulnerabilities": []}]}\n'


def write_demo(seed: bytes) -> None:
    """Produce the demo the way users do: run the pipeline, record the steps, finalize, sign.

    The clock and host facts are fixed so that the output is reproducible.
    """
    import io
    import shutil
    from datetime import timedelta

    from attestkit.adapters.runner import run_pipeline
    from attestkit.core.produce.pipeline import parse_pipeline
    from attestkit.core.produce.producer import finalize_receipt, summarize_junit, summarize_trivy

    demo = HERE / "demo"
    artifacts = demo / "artifacts"
    shutil.rmtree(artifacts / "dist", ignore_errors=True)
    (artifacts / "src").mkdir(parents=True, exist_ok=True)
    (artifacts / "src" / "app.c").write_bytes(b"int main(void) { return 0; }\n")
    (demo / "attest.yaml").write_bytes(DEMO_PIPELINE)
    (demo / "junit.xml").write_bytes(DEMO_JUNIT)
    (demo / "trivy.json").write_bytes(DEMO_TRIVY)
    ticks = iter(parse_rfc3339("2026-11-20T09:59:50Z") + timedelta(seconds=1.25 * i) for i in range(1000))
    steps = run_pipeline(
        parse_pipeline(DEMO_PIPELINE, "attest.yaml"),
        jobs=1,
        environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        root=str(artifacts),
        clock=lambda: next(ticks),
        output=io.BytesIO(),
    )
    if any(step["exit_code"] != 0 for step in steps):
        raise SystemExit(f"demo pipeline failed: {steps}")
    receipt = finalize_receipt(
        {"steps": steps},
        now=parse_rfc3339("2026-11-20T10:00:00Z"),
        host={"host_os": "linux", "host_arch": "x86_64", "user": "ci", "working_directory": "/build"},
        pipeline_hash=digest(DEMO_PIPELINE),
        attestations={
            "test": summarize_junit(DEMO_JUNIT, "junit.xml"),
            "security": summarize_trivy(DEMO_TRIVY, "trivy.json"),
        },
    )
    receipt["signer"] = "demo-ci@example.com"
    (demo / "receipt.unsigned.json").write_text(as_json(receipt) + "\n", encoding="utf-8")
    (demo / "receipt.json").write_text(as_json(signed(receipt, seed)) + "\n", encoding="utf-8")
    (demo / "demo.pub").write_text(PrivateKey.from_seed(seed).public_key.text + "\n", encoding="ascii")


def main() -> None:
    seed, other = seed_for("trusted"), seed_for("other")
    cases = build_cases(seed, other)
    document = {
        "generator": "vectors/generate.py",
        "cross_check": "every signature equals rfc8785.dumps + cryptography Ed25519 over the same receipt",
        "trusted_public_key": PrivateKey.from_seed(seed).public_key.text,
        "other_public_key": PrivateKey.from_seed(other).public_key.text,
        "now": NOW,
        "tolerance": "5m",
        "cases": cases,
    }
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "receipts.json").write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    write_demo(seed_for("demo"))
    print(
        f"wrote {len(cases)} cases to {os.path.relpath(HERE / 'receipts.json')} and {os.path.relpath(HERE / 'demo')}/"
    )


if __name__ == "__main__":
    main()
