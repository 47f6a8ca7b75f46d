"""Witness policies (c2sp.org/tlog-policy): known logs, known witnesses, k-of-n groups, a quorum,
and verification of a ``.tlog-proof`` against one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from attestkit.core.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from attestkit.core.tlog.merkle import verify_inclusion
from attestkit.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, Verifier, parse_vkey, same_key
from attestkit.core.tlog.proof import TlogProof
from attestkit.errors import MerkleProofError, TlogConfigError, WitnessQuorumError

MAX_POLICY_BYTES = 256 * 1024
MAX_ITEMS = 256  # logs, witnesses and groups each; the spec asks for at least 32
NONE = "none"


@dataclass(frozen=True)
class Group:
    """At least *threshold* of *members* (witness or group names) must have witnessed."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed witness policy."""

    logs: tuple[Verifier, ...]
    witnesses: Mapping[str, Verifier]
    groups: Mapping[str, Group]
    quorum: str

    def satisfied(self, cosigned: set[str]) -> bool:
        """Whether the witnesses named in *cosigned* meet the quorum."""
        return self._holds(self.quorum, cosigned, {})

    def _holds(self, name: str, cosigned: set[str], known: dict[str, bool]) -> bool:
        # *known* holds each group's answer: groups may share members, and without it a chain of
        # groups that each name the two before cost exponential time.
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigned
        if name not in known:
            group = self.groups[name]
            met = sum(1 for m in group.members if self._holds(m, cosigned, known))
            known[name] = met >= group.threshold
        return known[name]

    def witnessed_at(self, timestamps: Mapping[str, int]) -> int | None:
        """The earliest time T such that the witnesses that cosigned at or before T meet the quorum.

        Every witness in that set vouches the checkpoint existed by its own time, so the quorum
        vouches for T. ``None`` when the quorum is not met or is ``none``.
        """
        if self.quorum == NONE:
            return None
        for moment in sorted(set(timestamps.values())):
            if self.satisfied({w for w, t in timestamps.items() if t <= moment}):
                return moment
        return None


def _fail(number: int, rule: str) -> TlogConfigError:
    return TlogConfigError(f"policy line {number}: {rule}")


def parse_policy(data: bytes) -> Policy:
    """Parse a policy file; raises :class:`TlogConfigError` with the line and the rule broken."""
    # Long by design: one branch per line kind of the C2SP witness policy format, in its order.
    if len(data) > MAX_POLICY_BYTES:
        raise TlogConfigError(f"policy is larger than {MAX_POLICY_BYTES} bytes")
    for offset, byte in enumerate(data):
        if (byte < 0x20 and byte not in (0x09, 0x0A)) or byte == 0x7F:
            raise TlogConfigError(f"policy has a control character (byte {byte:#04x}) at offset {offset}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TlogConfigError(f"policy is not UTF-8 (byte {exc.start})") from None
    logs: list[Verifier] = []
    witnesses: dict[str, Verifier] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None

    def defined(name: str) -> bool:
        return name in witnesses or name in groups

    for number, line in enumerate(text.split("\n"), start=1):
        words = line.replace("\t", " ").split(" ")
        words = [w for w in words if w]
        if not words or words[0].startswith("#"):
            continue
        keyword, args = words[0], words[1:]
        if keyword == "log":
            if len(args) not in (1, 2):
                raise _fail(number, "expected 'log <vkey> [<url>]'")
            key = _vkey(args[0], number, ALG_ED25519, "log")
            if any(same_key(key, k) for k in logs):
                raise _fail(number, "duplicate log key")
            logs.append(key)
        elif keyword == "witness":
            if len(args) not in (2, 3):
                raise _fail(number, "expected 'witness <name> <vkey> [<url>]'")
            name = args[0]
            if name == NONE or defined(name):
                raise _fail(number, f"name {name!r} is already defined")
            key = _vkey(args[1], number, ALG_COSIGNATURE_V1, "witness")
            if any(same_key(key, k) for k in witnesses.values()):
                raise _fail(number, "duplicate witness key")
            witnesses[name] = key
        elif keyword == "group":
            if len(args) < 3:
                raise _fail(number, "expected 'group <name> all|any|<k> <name>...'")
            name, how, members = args[0], args[1], tuple(args[2:])
            if name == NONE or defined(name):
                raise _fail(number, f"name {name!r} is already defined")
            if len(set(members)) != len(members):
                raise _fail(number, "a group lists a member more than once")
            for member in members:
                if member == NONE or not defined(member):
                    raise _fail(number, f"group member {member!r} is not a witness or group defined above")
            if how == "all":
                threshold = len(members)
            elif how == "any":
                threshold = 1
            elif how.isdigit() and how.isascii() and (how == "0" or not how.startswith("0")):
                threshold = int(how)
                if not 1 <= threshold <= len(members):
                    raise _fail(number, f"threshold {threshold} is not between 1 and {len(members)}")
            else:
                raise _fail(number, "the threshold must be 'all', 'any' or a decimal number")
            groups[name] = Group(name, threshold, members)
        elif keyword == "quorum":
            if len(args) != 1:
                raise _fail(number, "expected 'quorum <name>'")
            if quorum is not None:
                raise _fail(number, "a policy has exactly one quorum line")
            if args[0] != NONE and not defined(args[0]):
                raise _fail(number, f"quorum {args[0]!r} is not a witness or group defined above")
            quorum = args[0]
        else:
            raise _fail(number, f"unknown keyword {keyword!r}")
        if max(len(logs), len(witnesses), len(groups)) > MAX_ITEMS:
            raise _fail(number, f"more than {MAX_ITEMS} logs, witnesses or groups")
    if quorum is None:
        raise TlogConfigError("policy has no quorum line")
    return Policy(tuple(logs), witnesses, groups, quorum)


def _vkey(text: str, number: int, alg: int, role: str) -> Verifier:
    try:
        key = parse_vkey(text)
    except TlogConfigError as exc:
        raise _fail(number, str(exc)) from None
    if key.alg != alg:
        raise _fail(number, f"a {role} key must have signature type 0x{alg:02x}")
    return key


@dataclass(frozen=True)
class ProofResult:
    """A verified tlog proof: where the entry is, and the time the witness quorum vouches for."""

    origin: str
    index: int
    size: int
    witnessed_at: int | None
    witnesses: tuple[str, ...]
    checkpoint: SignedCheckpoint


def verify_proof(proof: TlogProof, leaf: bytes, policy: Policy) -> ProofResult:
    """Verify *proof* for the leaf hash *leaf*: log signature, witness quorum, inclusion.

    Raises a :class:`~attestkit.errors.TlogError` (exit 1) on any failure.
    """
    if not policy.logs:
        raise TlogConfigError("the policy lists no log key")
    signed = open_checkpoint(proof.checkpoint, policy.logs, policy.witnesses.values())
    by_key = {(v.name, v.key_id): name for name, v in policy.witnesses.items()}
    timestamps = {
        by_key[(v.name, v.key_id)]: int.from_bytes(s.signature[:8], "big")
        for v, s in signed.note.verified
        if v.alg == ALG_COSIGNATURE_V1 and (v.name, v.key_id) in by_key
    }
    if not policy.satisfied(set(timestamps)):
        have = ", ".join(sorted(timestamps)) or "none"
        raise WitnessQuorumError(f"checkpoint cosignatures do not meet the policy quorum (valid cosignatures: {have})")
    checkpoint = signed.checkpoint
    try:
        verify_inclusion(proof.index, checkpoint.size, leaf, proof.proof, checkpoint.root)
    except MerkleProofError as exc:
        raise MerkleProofError(f"entry {proof.index} in {checkpoint.origin} at size {checkpoint.size}: {exc}") from None
    return ProofResult(
        checkpoint.origin,
        proof.index,
        checkpoint.size,
        policy.witnessed_at(timestamps),
        tuple(sorted(timestamps)),
        signed,
    )


__all__ = ["MAX_ITEMS", "MAX_POLICY_BYTES", "Group", "Policy", "ProofResult", "parse_policy", "verify_proof"]
