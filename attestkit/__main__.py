"""``python -m attestkit``."""

from attestkit.cli import run

raise SystemExit(run())
