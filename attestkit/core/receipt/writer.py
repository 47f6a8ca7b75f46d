"""Writing receipts as JSON or YAML text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def receipt_to_text(receipt: Mapping[str, Any], fmt: str = "json") -> str:
    """Serialise a receipt for humans and files; numbers round-trip exactly."""
    if fmt == "yaml":
        from attestkit.core.receipt.yaml_reader import dump_yaml

        return dump_yaml(dict(receipt))
    return json.dumps(receipt, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


__all__ = ["receipt_to_text"]
