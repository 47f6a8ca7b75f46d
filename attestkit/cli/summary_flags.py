"""The ``verify --summary-out/--summary`` options, apart from the code behind them (a plain verify loads only these)."""

from __future__ import annotations

import click

from attestkit.cli.params import DURATION

summary_options = [
    click.option(
        "--summary-out",
        metavar="FILE",
        help="Write a signed SLSA Verification Summary (VSA v1) of this run to FILE (atomically; never on exit 2).",
    ),
    click.option(
        "--key", "summary_key_file", metavar="FILE", help="Signing key for --summary-out (or $ATTESTKIT_SIGNING_KEY)."
    ),
    click.option(
        "--verifier-id",
        metavar="URI",
        help="Verifier id (URI) written by --summary-out, or required of the summary by --summary.",
    ),
    click.option(
        "--summary",
        "summary_file",
        metavar="FILE",
        help="Check this VSA instead of re-verifying: signed by --summary-key, PASSED, covering each RECEIPT.",
    ),
    click.option(
        "--summary-key",
        "summary_keys",
        multiple=True,
        metavar="KEY",
        help="The verifier's public key, for --summary (repeatable).",
    ),
    click.option(
        "--summary-max-age",
        type=DURATION,
        default=None,
        help="With --summary: the oldest summary accepted, as DURATION after its timeVerified (default 24h).",
    ),
]


__all__ = ["summary_options"]
