"""Regenerate docs/codes.md from attestkit/codes.py, and add new codes to the pinned list
tests/golden/codes.txt (never removing one: codes are stable): ``python docs/gen_codes.py``."""

from pathlib import Path

from attestkit.codes import REGISTRY, codes_markdown

root = Path(__file__).resolve().parent.parent
(root / "docs" / "codes.md").write_text(codes_markdown(), encoding="utf-8")
golden = root / "tests" / "golden" / "codes.txt"
pinned = set(golden.read_text(encoding="utf-8").split()) if golden.exists() else set()
golden.write_text("\n".join(sorted(pinned | set(REGISTRY))) + "\n", encoding="utf-8")
