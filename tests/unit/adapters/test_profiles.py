"""The continuum, continum and continue-hub profiles and ATTEST's wait/list/compare, against real servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.http import HttpClient
from attestkit.adapters.source import ReceiptSource
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import FetchError, UsageError
from tests.conftest import NOW, CliResult, make_receipt
from tests.http_server import Reply, serve


def _receipt(key: PrivateKey, **kw: Any) -> dict[str, Any]:
    return sign_receipt(make_receipt(**kw), key)


def _verify_args(key: PrivateKey) -> list[str]:
    return ["--public-key", key.public_key.text, "--now", NOW]


@pytest.mark.slow
def test_continuum_token_json_and_status_polling(cli: Callable[..., CliResult], key: PrivateKey) -> None:
    receipt = _receipt(key)
    routes = {
        "/api/status/42": [
            Reply(200, {"status": "running"}),
            Reply(200, {"status": "running"}),
            Reply(200, {"status": "SUCCEEDED"}),
        ],
        "/api/receipts/42": [Reply(200, receipt)],
    }
    with serve(routes) as server:
        result = cli("verify", "--profile", "continuum", "--url", f"{server.base_url}/api/receipts/42", "--wait",
                     "--status-url", f"{server.base_url}/api/status/42", *_verify_args(key), env={"CONTINUUM_TOKEN": "ctok-123"})  # fmt: skip
        assert result.code == 0, result.err
        assert "status: succeeded" in result.err
        for _, path, headers in server.requests:
            assert headers["authorization"] == "Token ctok-123" and "output_format=json" in path
            assert headers["accept"] == "application/json"


def test_continuum_basic_and_query_token(cli: Callable[..., CliResult], key: PrivateKey) -> None:
    with serve({"/r": [Reply(200, _receipt(key))]}) as server:
        basic = cli(
            "fetch",
            "--profile",
            "continuum",
            "--url",
            f"{server.base_url}/r",
            env={"CONTINUUM_USER": "me", "CONTINUUM_PASSWORD": "pw"},
        )
        assert basic.code == 0 and server.requests[0][2]["authorization"] == "Basic bWU6cHc="
        query = cli(
            "fetch",
            "--profile",
            "continuum",
            "--url",
            f"{server.base_url}/r",
            "--token-in-query",
            env={"CONTINUUM_TOKEN": "qtok"},
        )
        assert query.code == 0 and "token=qtok" in server.requests[1][1] and "least secure" in query.err
        assert "qtok" not in query.err


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<pipeline><status>ok</status></pipeline>", {"Content-Type": "application/xml"}),
        Reply(200, b"status: running\n", {"Content-Type": "text/plain"}),
    ],
)
def test_continuum_xml_or_text_is_a_clear_error(cli: Callable[..., CliResult], reply: Reply) -> None:
    with serve({"/r": [reply]}) as server:
        result = cli("fetch", "--profile", "continuum", "--url", f"{server.base_url}/r", env={"CONTINUUM_TOKEN": "t"})
    assert result.code == 2 and "instead of JSON" in result.err and "Traceback" not in result.err


def test_continum_key_envelope_errors_and_paging(
    cli: Callable[..., CliResult], key: PrivateKey, tmp_path: Path
) -> None:
    env = {"CONTINUM_API_KEY": "ck_live_SECRET"}
    routes = {
        "/v2/receipts/abc": [Reply(200, {"data": _receipt(key)})],
        "/v2/receipts/missing": [Reply(404, {"statusCode": 404, "message": "Receipt not found", "error": "Not Found"})],
        "/v2/receipts?page=1&limit=50": [
            Reply(200, {"data": [{"id": "r1", "receipt": _receipt(key)}], "pagination": {"page": 1, "pages": 2}})
        ],
        "/v2/receipts?page=2&limit=50": [
            Reply(
                200,
                {
                    "data": [{"id": "r2", "receipt": _receipt(key, attest_version="0.2.0")}],
                    "pagination": {"page": 2, "pages": 2},
                },
            )
        ],
    }
    with serve(routes) as server:
        ok = cli(
            "verify",
            "--profile",
            "continum",
            "--url",
            f"{server.base_url}/v2/receipts/abc",
            *_verify_args(key),
            env=env,
        )
        assert ok.code == 0, ok.err
        assert (
            server.requests[0][2]["x-continum-key"] == "ck_live_SECRET" and "authorization" not in server.requests[0][2]
        )
        missing = cli("fetch", "--profile", "continum", "--url", f"{server.base_url}/v2/receipts/missing", env=env)
        assert (
            missing.code == 2 and "HTTP 404 Not Found: Receipt not found" in missing.err and "SECRET" not in missing.err
        )
        listed = cli(
            "fetch",
            "--profile",
            "continum",
            "--list-url",
            f"{server.base_url}/v2/receipts",
            "--all",
            "-o",
            str(tmp_path / "out"),
            env=env,
        )
        assert listed.code == 0 and "2 receipts written" in listed.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r1.json", "r2.json"]
    batch = cli("verify", str(tmp_path / "out"), *_verify_args(key))
    assert batch.code == 0


def test_continum_post_carries_an_idempotency_key() -> None:
    with serve({"/v2/things": [Reply(201, {"data": {"ok": True}})]}) as server:
        source = ReceiptSource.named("continum", environ={"CONTINUM_API_KEY": "k"}, client=HttpClient(timeout=2))
        assert source.request_json("POST", f"{server.base_url}/v2/things", body=b"{}") == {"data": {"ok": True}}
        headers = server.requests[0][2]
    assert len(headers["idempotency-key"]) == 36 and headers["content-type"] == "application/json"


def test_continue_hub_prefix_bearer_and_errors(cli: Callable[..., CliResult], key: PrivateKey) -> None:
    with serve(
        {"/receipts/1": [Reply(200, _receipt(key))], "/receipts/2": [Reply(403, {"message": "Forbidden for this key"})]}
    ) as server:
        refused = cli(
            "fetch",
            "--profile",
            "continue-hub",
            "--url",
            f"{server.base_url}/receipts/1",
            env={"CONTINUE_HUB_API_KEY": "sk-wrong"},
        )
        assert refused.code == 2 and "con_" in refused.err and not server.requests
        ok = cli(
            "fetch",
            "--profile",
            "continue-hub",
            "--url",
            f"{server.base_url}/receipts/1",
            env={"CONTINUE_HUB_API_KEY": "con_good"},
        )
        assert ok.code == 0 and server.requests[0][2]["authorization"] == "Bearer con_good"
        denied = cli(
            "fetch",
            "--profile",
            "continue-hub",
            "--url",
            f"{server.base_url}/receipts/2",
            env={"CONTINUE_HUB_API_KEY": "con_good"},
        )
        assert denied.code == 2 and "Forbidden for this key" in denied.err and "CONTINUE_HUB_API_KEY" in denied.err
        assert "con_good" not in denied.err


def test_unknown_profile() -> None:
    with pytest.raises(UsageError, match="unknown profile"):
        ReceiptSource.named("nope")


@pytest.mark.slow
def test_attest_wait_list_and_compare(cli: Callable[..., CliResult], key: PrivateKey, tmp_path: Path) -> None:
    env = {"ATTEST_TOKEN": "attest_key_XYZ"}
    receipt = _receipt(key)
    routes = {
        "/v1/executions/e1": [
            Reply(200, {"id": "e1", "status": "running"}),
            Reply(200, {"id": "e1", "status": "completed"}),
        ],
        "/v1/executions/e1/receipt": [Reply(200, {"receipt": receipt, "verification": {"valid": True}})],
        "/v1/executions/e2/receipt": [Reply(200, {"receipt": receipt})],
        "/v1/executions/e3/receipt": [
            Reply(404, {"error": {"code": "NOT_FOUND", "message": "no receipt", "request_id": "r"}})
        ],
        "/v1/pipelines/p1/executions?limit=50&offset=0": [
            Reply(200, {"executions": [{"id": "e1"}, {"id": "e2"}], "has_more": True})
        ],
        "/v1/pipelines/p1/executions?limit=50&offset=2": [
            Reply(200, {"executions": [{"id": "e3"}], "has_more": False})
        ],
        "/v1/receipts/verify": [
            Reply(200, {"valid": True, "signature_verification": {"valid": True}, "chain_of_trust": "verified"})
        ],
    }
    with serve(routes) as server:
        waited = cli(
            "verify", "--base-url", server.base_url, "--execution", "e1", "--wait", *_verify_args(key), env=env
        )
        assert waited.code == 0 and "execution e1 is completed" in waited.err
        listed = cli(
            "fetch", "--base-url", server.base_url, "--pipeline", "p1", "--all", "-o", str(tmp_path / "all"), env=env
        )
        assert listed.code == 0 and "2 receipts written" in listed.out and "e3 has no receipt yet" in listed.err
        untrusted = PrivateKey.generate().public_key.text
        compared = cli(
            "verify",
            "--base-url",
            server.base_url,
            "--execution",
            "e2",
            "--compare-remote",
            "--public-key",
            untrusted,
            "--now",
            NOW,
            env=env,
        )
        assert compared.code == 1  # the local verdict decides
        assert "remote verdict differs: valid: remote says true, local says false" in compared.err
        (posted,) = server.bodies
        assert json.loads(posted) == {"receipt": receipt}
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["e1.json", "e2.json"]


def test_wait_times_out(key: PrivateKey) -> None:
    with serve({"/s": [Reply(200, {"status": "running"})]}) as server:
        source = ReceiptSource.named("continuum", environ={}, client=HttpClient(timeout=2))
        with pytest.raises(FetchError, match="still 'running'"):
            source.wait_until_finished(f"{server.base_url}/s", timeout=1.5, sleep=lambda s: None)


def test_fetch_all_never_lets_two_ids_share_a_file(
    cli: Callable[..., CliResult], key: PrivateKey, tmp_path: Path
) -> None:
    env = {"CONTINUM_API_KEY": "ck_live_SECRET"}
    ids = ["a/b", "a_b", "..", "\x1b[2Jclear", "plain"]
    items = [{"id": name, "receipt": _receipt(key, attest_version=f"0.{n}.0")} for n, name in enumerate(ids)]
    page = {"data": items, "pagination": {"page": 1, "pages": 1}}
    twice = {"data": [items[4], items[4]], "pagination": {"page": 1, "pages": 1}}
    routes = {"/v2/receipts?page=1&limit=50": [Reply(200, page)], "/v2/twice?page=1&limit=50": [Reply(200, twice)]}
    with serve(routes) as server:
        listed = cli("fetch", "--profile", "continum", "--list-url", f"{server.base_url}/v2/receipts", "--all",
                     "-o", str(tmp_path / "out"), env=env)  # fmt: skip
        repeated = cli("fetch", "--profile", "continum", "--list-url", f"{server.base_url}/v2/twice", "--all",
                       "-o", str(tmp_path / "twice"), env=env)  # fmt: skip
    assert listed.code == 0 and "5 receipts written" in listed.out, listed.err
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 5 and (tmp_path / "out" / "plain.json").exists() and (tmp_path / "out" / "a_b.json").exists()
    assert sorted(json.loads(f.read_text())["attest_version"] for f in files) == [f"0.{n}.0" for n in range(5)]
    assert repeated.code == 2 and "names 'plain' twice" in repeated.err
