"""Click parameter types shared by every command: one parser and one metavar per kind of value.

A bad value is attestkit's one-line usage error (exit 2) naming the option, e.g.
``--tolerance: not a duration <N><s|m|h|d>``; a bad key keeps the key loader's own error
(it names the file). The metavars are the shared vocabulary that
``--help`` shows: ``DURATION``, ``TIME``, ``KEY``, ``FILE``, ``DIR``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from attestkit.core.crypto.keys import PublicKey
from attestkit.errors import AttestkitError, UsageError

DURATION_FORMS = "<N><s|m|h|d>, e.g. 30s, 5m, 24h, 7d"
TIME_FORMS = "RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds"
KEY_FORMS = "ed25519:<64 hex>, or a file holding that, a PEM public key or an ssh-ed25519 line"


#: Core messages name a setting as the library spells it, never as a flag; the CLI says it its
#: own way. Each pair is (library wording, CLI wording); tests/unit/test_core_messages.py checks
#: that every library wording still occurs in attestkit/core/.
FLAG_WORDING: tuple[tuple[str, str], ...] = (
    (
        "format slsa-provenance needs the builder's id (builder_id)",
        "--format slsa-provenance needs the builder's id (--builder-id URI)",
    ),
    ("a builder id (builder_id)", "a builder id (--builder-id URI)"),
    ("use the OPA engine", "use --rego-engine opa"),
    ("run_id: a run id is", "--run-id: a run id is"),
    ("its own run_id (or ATTESTKIT_RUN_ID)", "its own --run-id (or ATTESTKIT_RUN_ID)"),
    ("signer and no_signer contradict", "--signer and --no-signer contradict"),
    ("signer: the identity is empty (use no_signer to", "--signer: the identity is empty (use --no-signer to"),
    ("pass replace_signature to", "pass --replace-signature to"),
    ("pass signer to record an identity or no_signer to", "pass --signer ID to record an identity or --no-signer to"),
    (
        "a log proof (or require_log) needs a witness policy (log_policy)",
        "a log proof (or --require-log) needs a witness policy (--log-policy)",
    ),
)


def cli_wording(text: str) -> str:
    """*text* (a library message) with each setting named by its flag."""
    for library, flag in FLAG_WORDING:
        if library in text:
            text = text.replace(library, flag)
    return text


def _refuse(reason: str, param: click.Parameter | None) -> UsageError:
    name = param.opts[0] if param is not None and param.opts else (param.name if param is not None else "value")
    return UsageError(f"{name}: {reason}")


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    """``<N><s|m|h|d>`` as a :class:`~datetime.timedelta`."""

    name = "duration"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The metavar shown in --help."""
        return "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """Parse *value* (a timedelta passes through)."""
        if isinstance(value, timedelta):
            return value
        from attestkit.core.timeutil import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError as exc:
            raise _refuse(str(exc), param) from None


class Instant(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    """A moment: RFC 3339 or Unix seconds (the same forms for every time option)."""

    name = "time"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The metavar shown in --help."""
        return "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """Parse *value* (an aware datetime passes through)."""
        if isinstance(value, datetime):
            return value
        from attestkit.core.timeutil import parse_instant

        try:
            return parse_instant(str(value))
        except AttestkitError as exc:
            option = getattr(exc, "option", None)
            reason = exc.message.split(": ", 1)[1] if option and exc.message.startswith(f"{option}: ") else exc.message
            raise _refuse(reason, param) from None


class PublicKeyParam(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    """A public key: a literal or a file holding one, in any accepted form."""

    name = "key"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The metavar shown in --help."""
        return "KEY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> PublicKey:
        """Load *value* (a PublicKey passes through); a bad key raises the loader's error."""
        if isinstance(value, PublicKey):
            return value
        from attestkit.adapters.files import load_public_key

        return load_public_key(str(value))


DURATION = Duration()
INSTANT = Instant()
PUBLIC_KEY = PublicKeyParam()

_F = TypeVar("_F", bound=Callable[..., Any])


def trusted_key_options(*, public_key_help: str, keyring_help: str, load_keys: bool) -> Callable[[_F], _F]:
    """``--public-key KEY`` (repeatable) and ``--keyring/--trusted-keys-file FILE`` (repeatable),
    given to the command as ``public_keys`` and ``trusted_files``. With *load_keys* each
    ``--public-key`` arrives loaded (a :class:`PublicKey`); without, as the text given."""
    key_kind: dict[str, Any] = {"type": PUBLIC_KEY} if load_keys else {"metavar": "KEY"}

    def decorate(command: _F) -> _F:
        command = click.option(
            "--keyring", "--trusted-keys-file", "trusted_files", multiple=True, metavar="FILE", help=keyring_help
        )(command)
        return click.option("--public-key", "public_keys", multiple=True, help=public_key_help, **key_kind)(command)

    return decorate


__all__ = [
    "DURATION",
    "DURATION_FORMS",
    "INSTANT",
    "KEY_FORMS",
    "PUBLIC_KEY",
    "TIME_FORMS",
    "cli_wording",
    "trusted_key_options",
]
