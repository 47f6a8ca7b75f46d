"""The ATTEST adapter against real HTTP servers on 127.0.0.1 that misbehave on demand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.attest import fetch_receipt_document
from attestkit.adapters.http import HttpClient, check_url, is_loopback_host
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import FetchError
from tests.conftest import NOW, CliResult, make_receipt
from tests.http_server import FakeTime, Reply, serve

TOKEN = "attest_key_0123456789SECRET"
PATH = "/v1/executions/exec_123/receipt"


def _envelope(receipt: dict[str, Any]) -> dict[str, Any]:
    return {"receipt": receipt, "verification": {"valid": True, "note": "never trusted"}}


def _remote(server_url: str, key: PrivateKey) -> list[str]:
    return [
        "verify",
        "--base-url",
        server_url,
        "--execution",
        "exec_123",
        "--public-key",
        key.public_key.text,
        "--now",
        NOW,
    ]


def _fast() -> HttpClient:
    return HttpClient(timeout=2.0, backoff_base=0.05)


def test_fetch_sends_token_and_returns_receipt_member(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    with serve({PATH: [Reply(200, _envelope(receipt))]}) as server:
        got = fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=_fast())
        (method, path, headers) = server.requests[0]
    assert got == receipt
    assert method == "GET" and path == PATH
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["user-agent"].startswith("attestkit/")


def test_cli_fetch_and_verify(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    env = {"ATTEST_TOKEN": TOKEN}
    with serve({PATH: [Reply(200, _envelope(receipt))]}) as server:
        out = tmp_path / "fetched.json"
        fetched = cli("fetch", "--base-url", server.base_url, "--execution", "exec_123", "-o", str(out), env=env)
        assert fetched.code == 0, fetched.err
        assert json.loads(out.read_text()) == receipt
        verified = cli(
            *_remote(server.base_url, key),
            "--json",
            env=env,
        )
        assert verified.code == 0, verified.err
        assert verified.json_lines()[0]["valid"] is True
        untrusted = cli(
            "verify",
            "--base-url",
            server.base_url,
            "--execution",
            "exec_123",
            "--public-key",
            PrivateKey.generate().public_key.text,
            env=env,
        )
        assert untrusted.code == 1
    tampered = dict(receipt, timestamp="2026-11-20T10:00:01Z")
    with serve({PATH: [Reply(200, {"receipt": tampered, "verification": {"valid": True}})]}) as server:
        result = cli(
            *_remote(server.base_url, key),
            env=env,
        )
        assert result.code == 1  # the server's own "valid: true" is ignored


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "AUTHENTICATION_FAILED"), (403, "FORBIDDEN"), (404, "NOT_FOUND")],
)
def test_error_envelopes(cli: Callable[..., CliResult], status: int, code: str) -> None:
    body = {"error": {"code": code, "message": "nope", "details": {}, "request_id": "req_abc"}}
    with serve({PATH: [Reply(status, body)]}) as server:
        result = cli("fetch", "--base-url", server.base_url, "--execution", "exec_123", env={"ATTEST_TOKEN": TOKEN})
        assert len(server.requests) == 1  # 4xx other than 429 is not retried
    assert result.code == 2
    assert code in result.err and "req_abc" in result.err
    assert TOKEN not in result.err
    if status == 401:
        assert "ATTEST_TOKEN" in result.err


def test_retry_after_then_success(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    replies = [Reply(429, {"error": {"code": "RATE_LIMITED"}}, {"Retry-After": "1"}), Reply(200, _envelope(receipt))]
    fake = FakeTime()
    with serve({PATH: replies}) as server:
        assert fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client()) == receipt
        assert len(server.requests) == 2
    assert fake.slept == [1.0]


def test_ratelimit_reset_and_retry_after_precedence(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    fake = FakeTime()
    reset = str(int(fake.now) + 7)
    both = {"Retry-After": "0", "X-RateLimit-Reset": str(int(fake.now) + 60)}
    replies = [Reply(429, b"", {"X-RateLimit-Reset": reset}), Reply(429, b"", both), Reply(200, _envelope(receipt))]
    with serve({PATH: replies}) as server:
        assert fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client()) == receipt
    assert fake.slept == [7.0, 0.0]  # the reset time, then Retry-After: 0 won over the 60 s reset


def test_server_errors_retried_then_give_up(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    fake = FakeTime()
    with serve({PATH: [Reply(500, b"oops"), Reply(503, b""), Reply(200, _envelope(receipt))]}) as server:
        assert fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client()) == receipt
    assert fake.slept == [0.75, 1.5]  # backoff 0.5 s then 1 s, each plus the (injected) top jitter of half
    with serve(
        {PATH: [Reply(502, {"error": {"code": "BAD_GATEWAY", "message": "down", "request_id": "r9"}})]}
    ) as server:
        with pytest.raises(FetchError, match=r"BAD_GATEWAY.*r9"):
            fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client())
        assert len(server.requests) == 4


def test_retry_budget_is_capped() -> None:
    with serve({PATH: [Reply(429, b"", {"Retry-After": "3600"})]}) as server:
        with pytest.raises(FetchError, match="budget"):
            fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=_fast())


def test_timeout() -> None:
    with serve({PATH: [Reply(200, b"{}", delay=2.0)]}) as server:
        client = HttpClient(timeout=0.3, max_attempts=1)
        with pytest.raises(FetchError, match="timed out"):
            fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=client)


@pytest.mark.parametrize(
    "reply",
    [Reply(200, b"{not json"), Reply(200, b"<receipt/>", {"Content-Type": "text/xml"}), Reply(200, {"no_receipt": 1})],
)
def test_bad_bodies(reply: Reply, cli: Callable[..., CliResult]) -> None:
    with serve({PATH: [reply]}) as server:
        result = cli("fetch", "--base-url", server.base_url, "--execution", "exec_123")
    assert result.code == 2 and "Traceback" not in result.err


def test_oversized_bodies() -> None:
    with serve({PATH: [Reply(200, b"{}", {"Content-Length-Ignored": "1"}, stream_bytes=33 * 1024 * 1024)]}) as server:
        with pytest.raises(FetchError, match="32 MiB"):
            fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=_fast())


def test_redirect_to_other_origin_drops_token(key: PrivateKey) -> None:
    receipt = sign_receipt(make_receipt(), key)
    with serve({PATH: [Reply(200, _envelope(receipt))]}) as other:
        with serve({PATH: [Reply(302, b"", {"Location": f"{other.base_url}{PATH}"})]}) as first:
            assert fetch_receipt_document(first.base_url, "exec_123", token=TOKEN, client=_fast()) == receipt
            assert first.requests[0][2]["authorization"] == f"Bearer {TOKEN}"
        assert "authorization" not in other.requests[0][2]


def test_plain_http_only_for_loopback(cli: Callable[..., CliResult]) -> None:
    for host in ("localhost", "127.0.0.5", "[::1]"):
        check_url(f"http://{host}:8080/v1")
    assert is_loopback_host("127.255.0.1") and not is_loopback_host("10.0.0.1")
    with pytest.raises(FetchError, match="only loopback"):
        check_url("http://api.example.com/v1")
    result = cli("fetch", "--base-url", "http://api.example.com", "--execution", "e1", env={"ATTEST_TOKEN": TOKEN})
    assert result.code == 2 and "loopback" in result.err and TOKEN not in result.err


@pytest.mark.slow
def test_connection_refused_is_exit_2(cli: Callable[..., CliResult]) -> None:
    with serve({}) as server:
        url = server.base_url
    result = cli("fetch", "--base-url", url, "--execution", "e1")
    assert result.code == 2 and "cannot reach" in result.err


def test_strict_rules_apply_to_fetched_receipts(cli: Callable[..., CliResult], key: PrivateKey) -> None:
    receipt = json.dumps(sign_receipt(make_receipt(), key))
    body = ('{"receipt": ' + receipt[:-1] + ', "attest_version": "dup"}}').encode()
    with serve({PATH: [Reply(200, body)]}) as server:
        result = cli(
            "verify", "--base-url", server.base_url, "--execution", "exec_123", "--public-key", key.public_key.text
        )
    assert result.code == 1 and "duplicate" in result.err


def test_retry_after_http_date(key: PrivateKey) -> None:
    import email.utils

    receipt = sign_receipt(make_receipt(), key)
    fake = FakeTime()
    when = email.utils.formatdate(fake.now + 2, usegmt=True)
    with serve({PATH: [Reply(503, b"", {"Retry-After": when}), Reply(200, _envelope(receipt))]}) as server:
        assert fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client()) == receipt
    assert fake.slept == [2.0]


ESCAPED = "".join(f"\\u{ord(c):04x}" for c in TOKEN)


@pytest.mark.parametrize(
    "body",
    [
        f'{{"receipt": {{"Bearer {TOKEN}": 1, "Bearer {TOKEN}": 2}}}}'.encode(),  # duplicate key, named in the error
        json.dumps({"receipt": dict(make_receipt(), timestamp=f"Bearer {TOKEN}")}).encode(),  # shown by a failed check
        f'{{"receipt": {{"timestamp": "{ESCAPED}"}}}}'.encode(),  # the token written with JSON escapes
    ],
)
def test_a_response_echoing_the_token_is_refused_unshown(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey, body: bytes
) -> None:
    env = {"ATTEST_TOKEN": TOKEN}
    with serve({PATH: [Reply(200, body)] * 2}) as server:
        out = tmp_path / "r.json"
        fetched = cli("fetch", "--base-url", server.base_url, "--execution", "exec_123", "-o", str(out), env=env)
        verified = cli(*_remote(server.base_url, key), "--json", env=env)
    for result in (fetched, verified):
        assert result.code == 2, result.out + result.err
        assert "contains the credentials from $ATTEST_TOKEN" in result.err + result.out
        assert TOKEN not in result.err + result.out
    assert not out.exists()


@pytest.mark.parametrize("header", ["Retry-After", "X-RateLimit-Reset"])
def test_a_wait_in_digits_of_another_script_falls_back_to_backoff(key: PrivateKey, header: str) -> None:
    # "²".isdigit() is True and float("²") raises: an internal error before.
    receipt = sign_receipt(make_receipt(), key)
    fake = FakeTime()
    replies = [Reply(503, {"error": {"code": "UNAVAILABLE"}}, {header: "\u00b2"}), Reply(200, _envelope(receipt))]
    with serve({PATH: replies}) as server:
        assert fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client()) == receipt
    assert len(fake.slept) == 1 and fake.slept[0] < 2


def test_an_answer_cut_short_is_a_network_error_not_a_receipt() -> None:
    fake = FakeTime()
    with serve({PATH: [Reply(200, b'{"receipt": {"a": 1}}', content_length=1000)]}) as server:
        with pytest.raises(FetchError, match="ended after 21 of its 1000 bytes") as info:
            fetch_receipt_document(server.base_url, "exec_123", token=TOKEN, client=fake.client())
        assert len(server.requests) == 4  # retried like any network failure, then given up
    assert info.value.code == "network"


def test_an_id_that_is_not_utf8_and_a_base_url_with_a_query_are_refused(cli: Callable[..., CliResult]) -> None:
    with serve({PATH: [Reply(200, {})]}) as server:
        not_text = cli("fetch", "--base-url", server.base_url, "--execution", "\udcff")
        query = cli("fetch", "--base-url", f"{server.base_url}/api?k=v", "--execution", "exec_123")
        assert server.requests == []
    assert not_text.code == 2 and "an id must be UTF-8 text" in not_text.err, not_text.err
    assert query.code == 2 and "no query or fragment" in query.err
    for result in (not_text, query):
        assert "internal error" not in result.err and len(result.err.splitlines()) == 1


def test_a_token_echoed_url_encoded_is_refused_and_redacted(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    from urllib.parse import quote

    token = "tok_AbCdEf/gh+IJ=xyz123"
    env = {"ATTEST_TOKEN": token}
    echoed = f"{PATH}?token={quote(token, safe='')}"
    routes = {
        PATH: [Reply(200, {"receipt": dict(make_receipt(), self=echoed.replace("%2F", "%2f"))})],
        "/v1/executions/gone/receipt": [
            Reply(404, {"error": {"code": "NOT_FOUND", "message": f"no such url {echoed}"}})
        ],
    }
    with serve(routes) as server:
        common = ["--base-url", server.base_url, "--token-in-query"]
        fetched = cli("fetch", *common, "--execution", "exec_123", "-o", str(tmp_path / "r.json"), env=env)
        missing = cli("fetch", *common, "--execution", "gone", env=env)
    assert fetched.code == 2 and "contains the credentials" in fetched.err and not (tmp_path / "r.json").exists()
    assert missing.code == 2 and "NOT_FOUND" in missing.err
    for result in (fetched, missing):
        assert "xyz123" not in result.err + result.out, result.err
