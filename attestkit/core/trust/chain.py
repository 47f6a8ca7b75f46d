"""Deciding whether a signing key is trusted for a receipt: directly or through delegations.

The rules (docs/keys.md):

- a keyring entry decides its key's trust by itself (window, revocation, scopes); a key with
  an entry never gains authority through a delegation;
- only a ``root``-role entry, or a key delegated with ``may_delegate: true``, may delegate;
- each link can only narrow: a re-delegated link keeps its delegator's identity (or inherits
  it), and the scopes and windows of every link and of the root all apply;
- a revoked key (an entry, or a key in a keyring's ``revocations``) is never on a chain.

The search runs forward from the trusted roots, so only delegators that can reach a root are
ever explored; each (key, identity) state is expanded once and links are indexed by
delegator, so the work is bounded by (distinct identities + 1) x delegations, at most
:data:`MAX_CHAIN` levels deep. A receipt may carry at most :data:`MAX_RECEIPT_DELEGATIONS`
statements; more are refused before any is parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from attestkit.core.crypto.keys import PublicKey, key_id_of
from attestkit.core.timeutil import format_rfc3339, rfc3339_unix_ns_span, to_unix_ns
from attestkit.core.trust.store import REVOKE_ALWAYS, TrustedKey, TrustStore, is_revoked

if TYPE_CHECKING:
    from attestkit.core.trust.delegation import Delegation


class ChainStatus(str, Enum):
    """The contract's ``chain_of_trust`` values: one enum for the verifier, results and reports."""

    VERIFIED = "verified"
    UNTRUSTED = "untrusted"
    REVOKED = "revoked"
    EXPIRED = "expired"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


VERIFIED, UNTRUSTED, REVOKED, EXPIRED = (
    ChainStatus.VERIFIED,
    ChainStatus.UNTRUSTED,
    ChainStatus.REVOKED,
    ChainStatus.EXPIRED,
)
MAX_CHAIN = 4
MAX_RECEIPT_DELEGATIONS = 32
ROOT_ROLE = "root"


@dataclass(frozen=True)
class ChainLink:
    """One key on the path from the signing key to a trusted key."""

    key: str
    key_id: str
    identity: str | None
    source: str  # "keyring" or "delegation"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"key": self.key, "key_id": self.key_id, "identity": self.identity, "source": self.source}


@dataclass(frozen=True)
class TrustDecision:
    """The outcome: ``status`` is the contract's ``chain_of_trust`` value.

    ``explored`` counts the delegation links examined to reach it (a measure of work).
    """

    status: ChainStatus
    code: str
    message: str
    identity: str | None = None
    chain: tuple[ChainLink, ...] = ()
    explored: int = field(default=0, compare=False)

    @property
    def trusted(self) -> bool:
        """Whether the key is trusted (``status`` is ``verified``)."""
        return self.status == VERIFIED


def _link(raw: bytes, identity: str | None, source: str) -> ChainLink:
    return ChainLink("ed25519:" + raw.hex(), key_id_of(raw), identity, source)


Span = tuple[int, int]
"""A receipt's time in Unix nanoseconds as (earliest, latest) it may mean (:func:`rfc3339_unix_ns_span`)."""


def _span(timestamp: datetime, span: Span | None) -> Span:
    if span is not None:
        return span
    exact = to_unix_ns(timestamp)
    return exact, exact


def _before(span: Span, start: datetime | None) -> bool:
    """Whether the instant is before a window's *start* (its earliest reading decides)."""
    return start is not None and span[0] < to_unix_ns(start)


def _after(span: Span, end: datetime | None) -> bool:
    """Whether the instant is after a window's *end* (its latest reading decides)."""
    return end is not None and span[1] > to_unix_ns(end)


def receipt_span(timestamp: datetime, text: object) -> Span:
    """The span of a receipt's ``timestamp`` *text*, full precision, when it is what *timestamp* was parsed from.

    A ``datetime`` keeps microseconds: compared alone, a receipt up to 999 ns after a window's
    end would be inside it.
    """
    exact = to_unix_ns(timestamp)
    if isinstance(text, str):
        dot = text.find(".")
        if dot < 0 or len(text) - len(text[dot + 1 :].lstrip("0123456789")) - dot - 1 <= 6:
            # No fraction, or one of at most 6 digits: the datetime holds all of it (the
            # reading below would give the same span, one regex and one parse later).
            return exact, exact
        try:
            earliest, latest = rfc3339_unix_ns_span(text)
        except ValueError:
            return exact, exact
        if earliest // 1000 == exact // 1000:
            return earliest, latest
    return exact, exact


def entry_problem(
    entry: TrustedKey, timestamp: datetime, scope: str | None = None, *, span: Span | None = None
) -> TrustDecision | None:
    """Why a keyring entry does not vouch for a receipt made at *timestamp*, or ``None``.

    The one place that states the key-status rules: revocation, validity window, scope. The
    window is compared at *span*'s full precision when given (see :func:`receipt_span`).
    """
    key_id = entry.public_key.key_id
    if is_revoked(entry.revoked_at, entry.revocation_reason, timestamp):
        reason = entry.revocation_reason or "revoked"
        return TrustDecision(REVOKED, "revoked", f"key {key_id} was revoked ({reason})")
    exact = _span(timestamp, span) if entry.not_before is not None or entry.not_after is not None else (0, 0)
    if _before(exact, entry.not_before):
        return TrustDecision(EXPIRED, "not-yet-valid", f"receipt predates key {key_id}'s validity window")
    if _after(exact, entry.not_after):
        return TrustDecision(EXPIRED, "expired", f"receipt is after key {key_id}'s validity window")
    if scope is not None and scope not in entry.scopes:
        return TrustDecision(UNTRUSTED, "out-of-scope", f"key {key_id} is not trusted for scope {scope!r}")
    return None


def _revocation_problem(raw: bytes, store: TrustStore, timestamp: datetime) -> TrustDecision | None:
    revocation = store.revocation_of(raw)
    if revocation is not None and is_revoked(revocation[0], revocation[1], timestamp):
        return TrustDecision(REVOKED, "revoked", f"key {key_id_of(raw)} was revoked ({revocation[1] or 'revoked'})")
    return None


def _link_problem(link: Delegation, span: Span, scope: str | None) -> TrustDecision | None:
    delegate_id = key_id_of(link.delegate)
    if not link.signature_valid:
        return TrustDecision(UNTRUSTED, "bad-delegation", f"delegation to key {delegate_id} has a bad signature")
    if _before(span, link.not_before):
        return TrustDecision(
            EXPIRED, "delegation-not-yet-valid", f"receipt predates the delegation to key {delegate_id}"
        )
    if _after(span, link.not_after):
        return TrustDecision(
            EXPIRED, "delegation-expired", f"receipt is after the delegation to key {delegate_id} ended"
        )
    if scope is not None and scope not in link.scopes:
        return TrustDecision(
            UNTRUSTED, "out-of-scope", f"delegation to key {delegate_id} does not cover scope {scope!r}"
        )
    return None


@dataclass(frozen=True)
class _State:
    """A key reached from a root with the authority to delegate further."""

    raw: bytes
    identity: str | None
    chain: tuple[ChainLink, ...]  # this key first, the root last
    depth: int  # delegations between this key and the root


class _Search:
    """One trust question: is *leaf* reachable from a root at *timestamp* (and in *scope*)?"""

    def __init__(
        self,
        store: TrustStore,
        delegations: Iterable[Delegation],
        timestamp: datetime,
        scope: str | None,
        span: Span | None = None,
    ):
        self.store, self.timestamp, self.scope = store, timestamp, scope
        self.span = _span(timestamp, span)
        self.by_delegator: dict[bytes, list[Delegation]] = {}
        self.by_delegate: dict[bytes, list[Delegation]] = {}
        for statement in delegations:
            self.by_delegator.setdefault(statement.delegator.raw, []).append(statement)
            self.by_delegate.setdefault(statement.delegate, []).append(statement)
        self.explored = 0
        self.failures: dict[bytes, TrustDecision] = {}  # first path-dependent refusal per delegate
        self.without_authority: set[bytes] = set()  # reached, but not allowed to delegate
        self.found: dict[bytes, list[TrustDecision]] = {}

    def run(self, leaves: frozenset[bytes], *, skip_entries: bool = True) -> None:
        """Walk forward from every usable root, recording the decisions that reach *leaves*."""
        frontier: list[_State] = []
        for entry in self.store.keys:
            raw = entry.public_key.raw
            if raw in self.by_delegator and ROOT_ROLE in entry.roles:
                if entry_problem(entry, self.timestamp, self.scope, span=self.span) is None:
                    frontier.append(_State(raw, None, (_link(raw, entry.identity, "keyring"),), 0))
        expanded: set[tuple[bytes, str | None]] = set()
        while frontier:
            upcoming: list[_State] = []
            for state in frontier:
                for statement in self.by_delegator.get(state.raw, ()):
                    reached = self._follow(state, statement, skip_entries)
                    if reached is None:
                        continue
                    if reached.raw in leaves:
                        self.found.setdefault(reached.raw, []).append(self._decision(reached))
                    if not statement.may_delegate:
                        self.without_authority.add(reached.raw)
                    elif (reached.raw, reached.identity) not in expanded:
                        expanded.add((reached.raw, reached.identity))
                        upcoming.append(reached)
            frontier = upcoming

    def _refuse(self, raw: bytes, decision: TrustDecision) -> None:
        self.failures.setdefault(raw, decision)

    def _follow(self, state: _State, statement: Delegation, skip_entries: bool) -> _State | None:
        self.explored += 1
        target = statement.delegate
        problem = _link_problem(statement, self.span, self.scope)
        if problem is not None:
            self._refuse(target, problem)
            return None
        if skip_entries and self.store.known_key(target) is not None:
            return None  # a keyring entry is judged by its entry alone
        problem = _revocation_problem(target, self.store, self.timestamp)
        if problem is not None:
            self._refuse(target, problem)
            return None
        key_id = key_id_of(target)
        if any(link.key == "ed25519:" + target.hex() for link in state.chain):
            self._refuse(
                target,
                TrustDecision(UNTRUSTED, "delegation-cycle", f"delegation chain through key {key_id} has a cycle"),
            )
            return None
        if state.depth + 1 > MAX_CHAIN:
            self._refuse(
                target,
                TrustDecision(
                    UNTRUSTED, "chain-too-long", f"delegation chain to key {key_id} is longer than {MAX_CHAIN}"
                ),
            )
            return None
        identity = statement.identity
        if state.depth > 0:  # a re-delegation keeps (or inherits) its delegator's identity
            if identity is not None and state.identity is not None and identity != state.identity:
                self._refuse(
                    target,
                    TrustDecision(
                        UNTRUSTED,
                        "identity-not-narrowed",
                        f"delegation to key {key_id} names identity {identity!r}, but its delegator "
                        f"only holds {state.identity!r}",
                    ),
                )
                return None
            identity = identity if identity is not None else state.identity
        return _State(target, identity, (_link(target, identity, "delegation"), *state.chain), state.depth + 1)

    def _decision(self, state: _State) -> TrustDecision:
        key_id = key_id_of(state.raw)
        root = state.chain[-1].key_id
        message = (
            f"key {key_id} is delegated by trusted root {root}"
            if state.depth == 1
            else f"key {key_id} is delegated through a chain of {state.depth} to trusted root {root}"
        )
        return TrustDecision(VERIFIED, "delegated", message, state.identity, state.chain)

    def diagnose(self, raw: bytes) -> TrustDecision:
        """Why *raw* was not reached: one pass over the links into it and its delegators."""
        done: dict[bytes, TrustDecision] = {}
        return self._diagnose(raw, (), done)

    def _diagnose(self, raw: bytes, path: tuple[bytes, ...], done: dict[bytes, TrustDecision]) -> TrustDecision:
        if raw in done:
            return done[raw]
        key_id = key_id_of(raw)
        decision = self.failures.get(raw) or _revocation_problem(raw, self.store, self.timestamp)
        incoming = self.by_delegate.get(raw, ())
        if decision is None and not incoming:
            decision = TrustDecision(UNTRUSTED, "untrusted-key", f"key {key_id} is not among the trusted keys")
        if decision is None and len(path) >= MAX_CHAIN:
            decision = TrustDecision(
                UNTRUSTED, "chain-too-long", f"delegation chain to key {key_id} is longer than {MAX_CHAIN}"
            )
        for statement in incoming if decision is None else ():
            self.explored += 1
            delegator = statement.delegator.raw
            entry = self.store.lookup(statement.delegator)
            problem = _link_problem(statement, self.span, self.scope)
            if problem is None and (delegator == raw or delegator in path):
                problem = TrustDecision(
                    UNTRUSTED, "delegation-cycle", f"delegation chain through key {key_id} has a cycle"
                )
            if problem is None and entry is not None:
                problem = (
                    entry_problem(entry, self.timestamp, self.scope, span=self.span)
                    if ROOT_ROLE in entry.roles
                    else TrustDecision(
                        UNTRUSTED,
                        "not-a-root",
                        f"key {entry.public_key.key_id} may not delegate (no 'root' role)",
                    )
                )
            if problem is None and delegator in self.without_authority:
                problem = TrustDecision(
                    UNTRUSTED,
                    "may-not-delegate",
                    f"key {key_id_of(delegator)} may not delegate (its delegation does not allow re-delegation)",
                )
            if problem is None and entry is None:
                problem = self._diagnose(delegator, (*path, raw), done)
            decision = decision or problem
        if decision is None:  # every link looked usable: the chain failed on a rule met further up
            decision = TrustDecision(UNTRUSTED, "untrusted-key", f"no usable delegation chain reaches key {key_id}")
        done[raw] = decision
        return decision


def _entry_trusted(entry: TrustedKey) -> TrustDecision:
    """The decision for a key whose keyring entry vouches for the receipt (the same every time)."""
    key = entry.public_key
    return TrustDecision(
        VERIFIED,
        "trusted",
        f"key {key.key_id}{f' ({entry.identity})' if entry.identity else ''} is trusted",
        entry.identity,
        (_link(key.raw, entry.identity, "keyring"),),
    )


def _choose(found: Sequence[TrustDecision], claimed_signer: str | None) -> TrustDecision:
    """The chain that agrees with the receipt's claim when there is one, else the shortest."""
    ordered = sorted(found, key=lambda d: len(d.chain))
    if claimed_signer is not None:
        for wanted in (claimed_signer, None):
            for decision in ordered:
                if decision.identity == wanted:
                    return decision
    return ordered[0]


def _with_work(decision: TrustDecision, explored: int) -> TrustDecision:
    return TrustDecision(decision.status, decision.code, decision.message, decision.identity, decision.chain, explored)


def decide_trust(
    key: PublicKey,
    store: TrustStore,
    timestamp: datetime,
    *,
    scope: str | None = None,
    claimed_signer: str | None = None,
    extra_delegations: Sequence[Delegation] = (),
    span: Span | None = None,
) -> TrustDecision:
    """Whether *key* is trusted for a receipt made at *timestamp* (and in *scope*).

    Windows are compared at *span*'s precision when given (:func:`receipt_span`).
    """
    entry = store.lookup(key)
    if entry is not None:
        decision = entry_problem(entry, timestamp, scope, span=span) or store.derived(
            "trusted-decision", key.raw, lambda: _entry_trusted(entry)
        )
    else:
        search = _Search(store, (*extra_delegations, *store.delegations), timestamp, scope, span)
        search.run(frozenset({key.raw}))
        found = search.found.get(key.raw)
        decision = _choose(found, claimed_signer) if found else search.diagnose(key.raw)
        decision = _with_work(decision, search.explored)
    if (
        decision.trusted
        and decision.identity is not None
        and claimed_signer is not None
        and claimed_signer != decision.identity
    ):
        return TrustDecision(
            UNTRUSTED,
            "signer-mismatch",
            f"receipt claims signer {claimed_signer!r} but key {key.key_id} belongs to {decision.identity!r}",
            decision.identity,
            decision.chain,
            decision.explored,
        )
    return decision


def decide_receipt_trust(
    key: PublicKey,
    store: TrustStore,
    data: Mapping[str, Any],
    timestamp: datetime,
    *,
    scope: str | None = None,
    claimed_signer: str | None = None,
) -> TrustDecision:
    """:func:`decide_trust` for a receipt's *claimed_signer* and its own ``delegations``.

    A receipt's delegations are read only when its key has no keyring entry; more than
    :data:`MAX_RECEIPT_DELEGATIONS` statements make the key untrusted before any is parsed.
    An unusable statement is ignored (it can only fail to grant trust) and named when the
    decision is not ``verified``.
    """
    span = receipt_span(timestamp, data.get("timestamp"))
    statements = data.get("delegations")
    if store.lookup(key) is not None or not isinstance(statements, list) or not statements:
        return decide_trust(key, store, timestamp, scope=scope, claimed_signer=claimed_signer, span=span)
    if len(statements) > MAX_RECEIPT_DELEGATIONS:
        return TrustDecision(
            UNTRUSTED,
            "too-many-delegations",
            f"receipt carries {len(statements)} delegations; at most {MAX_RECEIPT_DELEGATIONS} are accepted",
        )
    from attestkit.core.trust.delegation import parse_delegation
    from attestkit.errors import TrustStoreError

    parsed: list[Delegation] = []
    problems: list[str] = []
    for index, statement in enumerate(statements):
        try:
            parsed.append(parse_delegation(statement))
        except TrustStoreError as exc:
            problems.append(f"delegations/{index}: {exc.message}")
    decision = decide_trust(
        key, store, timestamp, scope=scope, claimed_signer=claimed_signer, extra_delegations=parsed, span=span
    )
    if problems and not decision.trusted:
        return TrustDecision(
            decision.status,
            decision.code,
            f"{decision.message} (ignored: {'; '.join(problems)})",
            explored=decision.explored,
        )
    return decision


def check_can_delegate(
    statement: Delegation, store: TrustStore, at: datetime, *, via: Sequence[Delegation] = ()
) -> None:
    """Raise :class:`UsageError` unless *statement* would hold for every scope it names.

    Checked at *at* (or the statement's ``not_before`` if later) and at its ``not_after``:
    the delegator must be a ``root`` entry of *store*, or be delegated with ``may_delegate``
    (by *via* or the store's delegations), and the statement may only narrow what the
    delegator holds. Used by ``keys delegate`` to refuse a statement before it is handed out.
    """
    from attestkit.errors import UsageError

    delegator = statement.delegator
    entry = store.lookup(delegator)
    if entry is not None and ROOT_ROLE not in entry.roles:
        raise UsageError(
            f"key {delegator.key_id} may not delegate: its keyring entry has no 'root' role", code="not-a-root"
        )
    start = max(at, statement.not_before) if statement.not_before is not None else at
    moments = [start] if statement.not_after is None else [start, statement.not_after]
    for moment in moments:
        for scope in (None, *statement.scopes):
            search = _Search(store, (statement, *via, *store.delegations), moment, scope)
            search.run(frozenset({statement.delegate}), skip_entries=False)
            found = [d for d in search.found.get(statement.delegate, ()) if d.chain[1].key == delegator.text]
            if found:
                continue
            problem = search.diagnose(statement.delegate)
            if problem.code == "untrusted-key" and entry is None:
                problem = TrustDecision(
                    UNTRUSTED,
                    "may-not-delegate",
                    f"key {delegator.key_id} is neither a root in the keyring nor delegated with may_delegate "
                    "(give the statement that lets it re-delegate among the delegations)",
                )
            where = f" for scope {scope!r}" if scope is not None else ""
            raise UsageError(
                f"key {delegator.key_id} cannot grant this delegation{where} at {format_rfc3339(moment)}: "
                f"{problem.message}",
                code=problem.code,
            )


__all__ = [
    "MAX_CHAIN",
    "MAX_RECEIPT_DELEGATIONS",
    "REVOKE_ALWAYS",
    "ROOT_ROLE",
    "ChainLink",
    "ChainStatus",
    "Span",
    "TrustDecision",
    "check_can_delegate",
    "decide_receipt_trust",
    "decide_trust",
    "entry_problem",
    "receipt_span",
]
