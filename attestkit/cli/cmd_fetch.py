"""``attestkit fetch``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from attestkit.adapters.files import write_atomic
from attestkit.cli.output import out, safe, warn
from attestkit.cli.remote import Remote, remote_from, remote_options
from attestkit.core.receipt.reader import format_for_name
from attestkit.core.receipt.writer import receipt_to_text
from attestkit.errors import FetchError, UsageError


def _write(receipt: dict[str, Any], path: str) -> None:
    write_atomic(path, receipt_to_text(receipt, format_for_name(path) or "json").encode("utf-8"))


@click.command()
@remote_options
@click.option("--pipeline", "pipeline_id", metavar="ID", help="ATTEST pipeline id (with --all).")
@click.option("--list-url", metavar="URL", help="Listing URL (other profiles, with --all).")
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every receipt of the pipeline or listing into -o DIR/.")
@click.option(
    "-o", "--output", metavar="FILE|DIR", help="Write the receipt here (.json/.yaml/.yml), or a directory with --all."
)
def fetch(pipeline_id: str | None, list_url: str | None, fetch_all: bool, output: str | None, **kwargs: Any) -> int:
    """Fetch receipts (GET /v1/executions/ID/receipt and the other profiles' equivalents).

    Only the receipt is kept, never the server's own verdict; verify it with `attestkit verify`.
    """
    remote = remote_from(kwargs)
    if not fetch_all and (pipeline_id is not None or list_url is not None):
        raise UsageError("--pipeline and --list-url list many receipts: add --all -o DIR/")
    if fetch_all:
        return _fetch_all(remote, pipeline_id, list_url, output)
    if not remote.wanted:
        raise UsageError("give --execution ID (attest) or --url URL, or --pipeline ID --all -o DIR/")
    _, receipt = remote.fetch()
    if output is None or output == "-":
        sys.stdout.write(receipt_to_text(receipt, "json"))
    else:
        _write(receipt, output)
    return 0


def _fetch_all(remote: Remote, pipeline_id: str | None, list_url: str | None, output: str | None) -> int:
    from attestkit.adapters.attest import AttestApi

    if output is None:
        raise UsageError("--all needs -o DIR/")
    os.makedirs(output, exist_ok=True)
    source = remote.source()
    count = skipped = 0
    written: set[str] = set()
    if remote.profile == "attest":
        if pipeline_id is None:
            raise UsageError("--all with the attest profile needs --pipeline ID")
        for execution_id, receipt in AttestApi.of(source, remote.base_url).pipeline_receipts(pipeline_id):
            if receipt is None:
                skipped += 1
                warn(f"execution {execution_id} has no receipt yet; skipped")
                continue
            _write(receipt, _target(output, execution_id, written))
            count += 1
    else:
        if list_url is None:
            raise UsageError(f"--all with the {remote.profile} profile needs --list-url URL")
        for index, item in enumerate(source.pages(list_url, "items")):
            if isinstance(item, dict) and isinstance(item.get("receipt"), dict):
                receipt = item["receipt"]
            elif isinstance(item, dict) and isinstance(item.get("receipt_url"), str):
                receipt = source.fetch_receipt(item["receipt_url"], named_by=list_url)
            else:
                skipped += 1
                continue
            name = str(item["id"]) if isinstance(item.get("id"), str) else f"receipt-{index + 1}"
            _write(receipt, _target(output, name, written))
            count += 1
    out(f"{count} receipts written to {safe(output)}" + (f" ({skipped} skipped)" if skipped else ""))
    return 0


def _safe(name: str) -> str:
    """A file name for a server's id: the id itself when it is one, else a cleaned form with a
    digest of the id, so that ``a/b`` and ``a_b`` never share (and overwrite) a file."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    if cleaned == name:
        return name
    from hashlib import sha256

    return f"{cleaned or 'receipt'}-{sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def _target(output: str, name: str, written: set[str]) -> str:
    """Where the receipt for *name* goes; a listing naming one id twice is refused."""
    file_name = f"{_safe(name)}.json"
    if file_name in written:
        raise FetchError(
            f"the listing names {safe(name)!r} twice; refusing to overwrite its receipt", code="bad-response"
        )
    written.add(file_name)
    return os.path.join(output, file_name)
