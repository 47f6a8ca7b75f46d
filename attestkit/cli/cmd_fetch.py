"""``attestkit fetch``."""

from __future__ import annotations

import sys

import click

from attestkit.adapters.attest import fetch_receipt_document
from attestkit.adapters.files import write_atomic
from attestkit.core.reader import format_for_name
from attestkit.core.serialize import receipt_to_text


@click.command()
@click.option("--base-url", help="Service base URL (default: $ATTEST_BASE_URL or the ATTEST cloud).")
@click.option("--execution", required=True, help="Execution id.")
@click.option("-o", "--output", help="Write the receipt here (.json/.yaml/.yml) instead of stdout.")
@click.option("--token-file", help="File holding the API token (default: $ATTEST_TOKEN).")
def fetch(base_url: str | None, execution: str, output: str | None, token_file: str | None) -> int:
    """Fetch the receipt of an execution (GET /v1/executions/ID/receipt).

    Only the receipt member is kept; verify it with `attestkit verify`.
    """
    receipt = fetch_receipt_document(base_url, execution, token_file=token_file)
    if output is None or output == "-":
        sys.stdout.write(receipt_to_text(receipt, "json"))
    else:
        write_atomic(output, receipt_to_text(receipt, format_for_name(output) or "json").encode("utf-8"))
    return 0
