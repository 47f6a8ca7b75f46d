"""Checks of the fields of trust entries (keys, revocations, delegations) built by a caller."""

from __future__ import annotations

from datetime import datetime

from attestkit.errors import ArgumentTypeError, UsageError


def check_instant(value: object, what: str) -> None:
    """Refuse anything but ``None`` or a timezone-aware datetime (a naive one cannot be compared)."""
    if value is None:
        return
    if not isinstance(value, datetime):
        hint = (
            " (parse text with attestkit.core.timeutil.parse_instant)" if isinstance(value, (str, int, float)) else ""
        )
        raise ArgumentTypeError(f"{what} must be a timezone-aware datetime or None, not {type(value).__name__}{hint}")
    if value.utcoffset() is None:
        raise UsageError(f"{what} must be a timezone-aware datetime, not a naive one (add tzinfo=timezone.utc)")


def names_argument(value: object, what: str) -> tuple[str, ...]:
    """*value* (a tuple, list or set of ``str``) as a tuple of exact ``str``.

    A bare ``str`` is refused: ``scope in "nonprod"`` is a substring test, which would grant
    the key the scope ``"prod"``.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, frozenset, set)):
        raise ArgumentTypeError(
            f"{what} must be a tuple of str (write ({value!r},) for one), not {type(value).__name__}"
            if isinstance(value, str)
            else f"{what} must be a tuple of str, not {type(value).__name__}"
        )
    for name in value:
        ArgumentTypeError.check(name, str, f"each of {what}")
    names = sorted(value) if isinstance(value, (frozenset, set)) else list(value)
    # str.__str__ gives an exact str: a subclass's own __eq__ or __hash__ could match any scope.
    return tuple(str.__str__(name) for name in names)


__all__ = ["check_instant", "names_argument"]
