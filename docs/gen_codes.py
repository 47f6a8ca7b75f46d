"""Regenerate docs/codes.md from attestkit/codes.py: ``python docs/gen_codes.py``."""

from pathlib import Path

from attestkit.codes import codes_markdown

Path(__file__).with_name("codes.md").write_text(codes_markdown(), encoding="utf-8")
