"""Where a receipt comes from: the remote options shared by ``fetch`` and ``verify``, and :class:`Remote`.

Apart from ``fetch`` so that a plain ``verify`` loads neither the fetch command nor the HTTP code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

from attestkit.cli.output import warn
from attestkit.cli.params import DURATION
from attestkit.core.timeutil import parse_duration
from attestkit.errors import UsageError

if TYPE_CHECKING:
    from attestkit.adapters.http import HttpClient
    from attestkit.adapters.source import ReceiptSource

DEADLINE_ENV = "ATTESTKIT_FETCH_DEADLINE"
DEFAULT_DEADLINE = "5m"

F = TypeVar("F", bound=Callable[..., Any])


def remote_options(func: F) -> F:
    """The options that say where a receipt comes from (shared by fetch and verify)."""
    options = [
        click.option(
            "--profile",
            default="attest",
            show_default=True,
            metavar="NAME",
            help="Service convention: attest, continuum, continum, continue-hub.",
        ),
        click.option(
            "--base-url", metavar="URL", help="ATTEST base URL (default: $ATTEST_BASE_URL or the ATTEST cloud)."
        ),
        click.option("--execution", metavar="ID", help="ATTEST execution id."),
        click.option("--url", "receipt_url", metavar="URL", help="Receipt URL (other profiles)."),
        click.option("--wait", is_flag=True, help="Poll the execution (or --status-url) until it has finished."),
        click.option(
            "--timeout",
            "wait_timeout",
            type=DURATION,
            default="10m",
            show_default=True,
            help="How long --wait may take.",
        ),
        click.option("--status-url", metavar="URL", help="Status URL to poll with --wait (other profiles)."),
        click.option(
            "--token-file", metavar="FILE", help="File holding the token (default: the profile's environment variable)."
        ),
        click.option(
            "--token-in-query", is_flag=True, help="Send the token as a query argument (least secure; continuum)."
        ),
        click.option(
            "--deadline",
            type=DURATION,
            help=f"Give up on the network after this long in all, retries and --wait included "
            f"(default ${DEADLINE_ENV}, else {DEFAULT_DEADLINE}, plus --timeout with --wait).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class Remote:
    """Where to fetch from, as given on the command line (a plain class: every verify builds one, few fetch)."""

    def __init__(
        self,
        profile: str,
        base_url: str | None,
        execution: str | None,
        receipt_url: str | None,
        wait: bool,
        wait_timeout: timedelta,
        status_url: str | None,
        token_file: str | None,
        token_in_query: bool,
        deadline: timedelta | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url
        self.execution = execution
        self.receipt_url = receipt_url
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.status_url = status_url
        self.token_file = token_file
        self.token_in_query = token_in_query
        self.deadline = deadline

    @property
    def wanted(self) -> bool:
        return self.execution is not None or self.receipt_url is not None

    @property
    def wait_seconds(self) -> float:
        """--timeout in seconds."""
        return self.wait_timeout.total_seconds()

    @cached_property
    def client(self) -> HttpClient:
        """One client for the whole command: its deadline starts when it is first needed."""
        from attestkit.adapters.http import HttpClient

        given = os.environ.get(DEADLINE_ENV) if self.deadline is None else None
        where = "--deadline" if self.deadline is not None else f"${DEADLINE_ENV}"
        if self.deadline is not None:
            seconds = self.deadline.total_seconds()
        else:
            try:
                seconds = parse_duration(given if given is not None else DEFAULT_DEADLINE).total_seconds()
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None
        if seconds <= 0:
            raise UsageError(f"{where}: the deadline must be longer than 0s")
        if self.deadline is None and given is None and self.wait:
            seconds += self.wait_seconds
        client = HttpClient(notify=warn)
        client.deadline = client.monotonic() + seconds
        return client

    def check(self) -> None:
        """Refuse options that would be silently ignored."""
        if self.status_url is not None and not self.wait:
            raise UsageError("--status-url is polled by --wait: add --wait, or drop --status-url")
        if self.profile == "attest" and (self.receipt_url is not None or self.status_url is not None):
            raise UsageError(
                "--url and --status-url are for the other profiles; the attest profile takes --execution ID"
            )
        if self.profile != "attest" and self.execution is not None:
            raise UsageError(f"--execution is for the attest profile; the {self.profile} profile takes --url URL")

    def source(self) -> ReceiptSource:
        """The receipt source for these options (credentials from the profile's variables or --token-file)."""
        from attestkit.adapters.source import ReceiptSource

        return ReceiptSource.named(
            self.profile, token_file=self.token_file, token_in_query=self.token_in_query, warn=warn, client=self.client
        )

    def fetch(self) -> tuple[str, dict[str, Any]]:
        """(label, receipt) for the receipt these options name."""
        from attestkit.adapters.attest import AttestApi

        timeout = self.wait_seconds
        source = self.source()
        if self.profile == "attest":
            if self.execution is None:
                raise UsageError("the attest profile needs --execution ID")
            api = AttestApi.of(source, self.base_url)
            if self.wait:
                warn(f"execution {self.execution} is {api.wait(self.execution, timeout)}")
            return f"execution:{self.execution}", api.receipt(self.execution)
        if self.receipt_url is None:
            raise UsageError(f"the {self.profile} profile needs --url RECEIPT_URL")
        if self.wait:
            if self.status_url is None:
                raise UsageError("--wait needs --status-url with this profile")
            warn(f"status: {source.wait_until_finished(self.status_url, timeout=timeout)}")
        return self.receipt_url, source.fetch_receipt(self.receipt_url)


def remote_from(kwargs: dict[str, Any]) -> Remote:
    """Pop the remote options out of a command's keyword arguments."""
    names = [
        "profile",
        "base_url",
        "execution",
        "receipt_url",
        "wait",
        "wait_timeout",
        "status_url",
        "token_file",
        "token_in_query",
        "deadline",
    ]
    remote = Remote(**{name: kwargs.pop(name) for name in names})
    remote.check()
    return remote


__all__ = ["DEADLINE_ENV", "DEFAULT_DEADLINE", "Remote", "remote_from", "remote_options"]
