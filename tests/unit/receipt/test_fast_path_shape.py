"""The quick artifact test of the shape check against the precise rules it stands in for.

``_artifacts_look_fine`` may only answer ``True`` when every precise rule holds; the verdict
(and the error, when there is one) must be the same with the quick test on and off.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestkit.core.receipt import shape
from attestkit.errors import MalformedReceiptError
from tests.conftest import IN_CI

GOOD = "blake3:" + "ab" * 32
_paths = st.sampled_from(
    [
        "a",
        "dist/app.bin",
        "src/",
        "",
        "/abs",
        "a/../b",
        "..",
        "a..b",
        "C:x",
        "c:/x",
        "é:",
        "a\\b",
        "a\x00b",
        "./a",
        "a//b",
        "\x00",
        "a/",
        ".../x",
        "x/..",
        7,
        None,
    ]
)
_digests = st.sampled_from(
    [
        GOOD,
        GOOD.upper(),
        "BLAKE3:" + "ab" * 32,
        GOOD[:-1],
        GOOD + "0",
        GOOD[:-1] + "g",
        GOOD[:-1] + "\u0660",
        GOOD[:-1] + " ",
        "sha256:" + "ab" * 32,
        "blake3:" + "ab" * 31 + "\nb",
        3,
        None,
    ]
)
_sizes = st.sampled_from([None, 0, 5, -1, True, 1.5, "3", 2**60])
_entry = st.one_of(
    st.fixed_dictionaries(
        {"path": _paths, "hash": _digests},
        optional={"size_bytes": _sizes, "files": st.sampled_from([{}, {"a": GOOD}, {"..": GOOD}, [], None])},
    ),
    st.sampled_from([None, "x", [], 3]),
)
_artifacts = st.one_of(st.lists(_entry, max_size=4), st.sampled_from([None, {}, "x", (), 3]))
_step = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "inputs": _artifacts,
            "outputs": _artifacts,
            "exit_code": st.sampled_from([0, 1, -1, True, "0", 1.0, None]),
        },
    ),
    st.sampled_from([None, [], "step"]),
)


def _verdict(data: dict[str, Any]) -> tuple[str, str, str] | None:
    try:
        shape.check_receipt_shape(data, "r.json")
    except MalformedReceiptError as exc:
        return (exc.code, str(exc), exc.where)
    return None


@settings(max_examples=5_000 if IN_CI else 500, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(_step, max_size=4))
def test_quick_artifact_test_agrees_with_the_precise_rules(steps: list[Any]) -> None:
    data = {"timestamp": "2026-11-20T10:00:00Z", "steps": steps}
    quick = _verdict(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shape, "_artifacts_look_fine", lambda steps: False)
        precise = _verdict(data)
    assert quick == precise
    if shape._artifacts_look_fine(steps):
        assert precise is None


def test_quick_test_serves_ordinary_artifacts() -> None:
    steps = [{"exit_code": 0, "inputs": [{"path": "src/", "hash": GOOD, "size_bytes": 3}], "outputs": []}, {}]
    assert shape._artifacts_look_fine(steps)
