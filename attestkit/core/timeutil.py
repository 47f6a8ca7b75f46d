"""RFC 3339 timestamps, durations (``<N><s|m|h|d>``) and Unix-second instants.

Every reader here accepts ASCII digits only (``str.isdigit`` and ``int`` also take Arabic-Indic
or full-width digits, which other RFC 3339 readers refuse) and keeps its result inside the
range where attestkit's time arithmetic cannot overflow: instants lie between
0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z (UTC, after applying the offset), and a
duration is at most :data:`MAX_DURATION` (100 years), so the real clock plus any duration stays
representable. Anything else is a ``ValueError`` (or :class:`UsageError` for ``--now``) with a
short reason, never an ``OverflowError``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from attestkit.errors import UsageError

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z",
    re.ASCII,
)
_DURATION = re.compile(r"([0-9]{1,12})([smhd])\Z", re.ASCII)
_UNIX = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?\Z", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RANGE = "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"

MAX_DURATION = timedelta(days=36525)
"""The longest duration accepted anywhere (100 years: ``36525d``, ``876600h``, ...)."""


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 date-time (``Z`` or an offset) into an aware UTC datetime.

    Raises ``ValueError`` with a short reason when *text* is not RFC 3339.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text[:64]!r}")
    year, month, day, hour, minute, second = map(int, match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    leap = second == 60
    if leap:
        second = 59
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if offset in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            raise ValueError(f"bad UTC offset in {text[:64]!r}")
        tz = timezone(sign * timedelta(hours=oh, minutes=om))
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        raise ValueError(f"not a valid date-time: {text[:64]!r}") from None
    try:
        # Near year 1 or 9999 the offset or the leap second can leave the datetime range.
        if leap:
            moment += timedelta(seconds=1)
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"date-time out of range ({_RANGE}): {text[:64]!r}") from None


def parse_optional_rfc3339(value: object, *, ceil: bool = False) -> datetime | None:
    """``None`` for ``None``, else an RFC 3339 string parsed; ``ValueError`` otherwise.

    *ceil* rounds a sub-microsecond fraction up (:func:`parse_rfc3339_ceil`), else it is cut.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string")
    return parse_rfc3339_ceil(value) if ceil else parse_rfc3339(value)


def to_unix_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def rfc3339_unix_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch of an RFC 3339 date-time, keeping fraction digits beyond
    the microsecond a ``datetime`` drops (the 7th to 9th; later ones are cut, as OPA cuts them)."""
    moment = parse_rfc3339(text)
    match = _RFC3339.match(text)
    fraction = match.group(7) if match is not None else None
    extra = int((fraction[7:] + "000")[:3]) if fraction and len(fraction) > 7 else 0
    return to_unix_ns(moment) + extra


def rfc3339_unix_ns_span(text: str) -> tuple[int, int]:
    """The nanoseconds since the Unix epoch that an RFC 3339 date-time may mean, as (earliest, latest).

    Equal when the fraction has at most 9 digits; otherwise the instant lies strictly between
    them (the 10th digit on is below a nanosecond), so a comparison that must not pass in
    doubt can use the side that fails: *latest* against an end, *earliest* against a start.
    """
    earliest = rfc3339_unix_ns(text)
    match = _RFC3339.match(text)
    fraction = (match.group(7) or "") if match is not None else ""
    return earliest, earliest + (1 if fraction[10:].strip("0") else 0)


def parse_rfc3339_ceil(text: str) -> datetime:
    """:func:`parse_rfc3339`, rounded up to the next microsecond when the fraction has more digits.

    For the start of a validity window: a ``datetime`` keeps microseconds, and cutting the rest
    would open the window up to a microsecond early.
    """
    moment = parse_rfc3339(text)
    match = _RFC3339.match(text)
    fraction = (match.group(7) or "") if match is not None else ""
    if not fraction[7:].strip("0"):
        return moment
    try:
        return moment + timedelta(microseconds=1)
    except OverflowError:
        raise ValueError(f"date-time out of range ({_RANGE}): {text[:64]!r}") from None


def parse_duration(text: str) -> timedelta:
    """Parse ``<N><s|m|h|d>`` (e.g. ``5m``, ``24h``), ASCII digits, at most :data:`MAX_DURATION`.

    Raises ``ValueError`` with a short reason otherwise.
    """
    match = _DURATION.match(text.strip(" \t"))
    if match is None:
        raise ValueError(f"not a duration <N><s|m|h|d> (ASCII digits): {text[:32]!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION.days * 86400:
        raise ValueError(f"duration {text.strip()[:32]!r} is longer than the limit of 36525d (100 years)")
    return timedelta(seconds=seconds)


def parse_instant(text: str) -> datetime:
    """Parse an instant given as text (the CLI's ``--now``): RFC 3339 or Unix seconds.

    Raises :class:`UsageError` whose ``option`` is ``now``."""
    value = text.strip(" \t")
    unix = _UNIX.match(value)
    if unix is not None:
        micro = int((unix.group(2) or "").ljust(6, "0")[:6])
        try:
            return _EPOCH + timedelta(seconds=int(unix.group(1)), microseconds=micro)
        except OverflowError:
            raise UsageError(
                f"now: {value[:32]!r} is out of range (Unix seconds up to 253402300799)", option="now"
            ) from None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise UsageError(f"now: {exc}; use RFC 3339 or Unix seconds (ASCII digits)", option="now") from None


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def format_rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with a ``Z`` suffix."""
    utc = moment.astimezone(timezone.utc)
    # Not strftime: its %Y drops the leading zeros of years before 1000 on glibc.
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def human_duration(delta: timedelta) -> str:
    """A short human form of a duration, e.g. ``31h`` or ``4m``."""
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h".replace(".0h", "h")
    return f"{seconds / 86400:.1f}d".replace(".0d", "d")


__all__ = [
    "MAX_DURATION",
    "format_rfc3339",
    "human_duration",
    "parse_duration",
    "parse_instant",
    "parse_optional_rfc3339",
    "parse_rfc3339",
    "parse_rfc3339_ceil",
    "rfc3339_unix_ns",
    "rfc3339_unix_ns_span",
    "to_unix_ns",
    "utc_now",
]
