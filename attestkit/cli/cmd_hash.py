"""``attestkit hash``."""

from __future__ import annotations

import click

from attestkit.cli.output import error, out
from attestkit.core.digest import hash_path, tree_manifest
from attestkit.errors import AttestkitError


@click.command("hash")
@click.argument("paths", nargs=-1, required=True)
@click.option("--manifest", is_flag=True, help="Print the manifest lines of each directory instead of its digest.")
def hash_cmd(paths: tuple[str, ...], manifest: bool) -> int:
    """Print `blake3:<hex>  PATH` for each file or directory."""
    status = 0
    for path in paths:
        try:
            if manifest:
                for entry in tree_manifest(path):
                    out(entry.line())
            else:
                out(f"{hash_path(path)}  {path}")
        except AttestkitError as exc:
            error(str(exc))
            status = 2
    return status
