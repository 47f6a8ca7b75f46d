"""Credentials go only to their origin; no secret in any error or repr (issue 15 item 7).

Real servers on 127.0.0.1 where the rule can be shown with them; a scripted transport (a
stand-in for the network, not for the rules under test) where the rule needs an https origin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from attestkit.adapters.attest import AttestEndpoints, fetch_receipt_document
from attestkit.adapters.http import HttpClient, HttpResponse, check_url, follow_url, redact_url
from attestkit.adapters.profiles import PROFILES
from attestkit.adapters.source import ReceiptSource, credentials
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.receipt.signing import sign_receipt
from attestkit.errors import AttestkitError, FetchError
from tests.conftest import CliResult, make_receipt
from tests.http_server import FakeTime, Reply, serve

SECRET = "attest_key_KNOWN_SECRET_0042"


class Scripted:
    """A transport that answers from a table by URL and records what it was sent."""

    def __init__(self, answers: Mapping[str, HttpResponse]) -> None:
        self.answers = dict(answers)
        self.sent: list[tuple[str, dict[str, str]]] = []

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        *,
        budget: float | None = None,
    ) -> HttpResponse:
        self.sent.append((url, dict(headers)))
        return self.answers.get(url.split("?")[0], HttpResponse(404, {}, b"{}"))


def _redirect(location: str) -> HttpResponse:
    return HttpResponse(302, {"location": location}, b"")


@pytest.mark.parametrize(
    ("start", "location", "code"),
    [
        ("https://api.example.com/r", "http://api.example.com/r", "insecure-url"),  # http only to loopback
        ("https://api.example.com/r", "http://127.0.0.1:8080/admin", "insecure-redirect"),
        ("https://api.example.com/r", "https://localhost/admin", "insecure-redirect"),
        ("https://api.example.com/r", "https://[::1]:9000/x", "insecure-redirect"),
        ("https://api.example.com/r", "http://10.0.0.1/x", "insecure-url"),
        ("https://api.example.com/r", "file:///etc/passwd", "bad-url"),
    ],
)
def test_redirects_never_downgrade_or_point_home(start: str, location: str, code: str) -> None:
    transport = Scripted({start: _redirect(location)})
    client = HttpClient(transport=transport)
    with pytest.raises(FetchError) as info:
        client.request("GET", start, {"Authorization": f"Bearer {SECRET}"})
    assert info.value.code == code
    assert len(transport.sent) == 1  # the target was never asked
    assert SECRET not in str(info.value)


def test_cross_origin_redirect_drops_every_credential_header() -> None:
    transport = Scripted(
        {
            "https://a.example/r": _redirect("https://b.example/r"),
            "https://b.example/r": HttpResponse(200, {}, b"{}"),
        }
    )
    headers = {"Authorization": "Bearer x", "x-continum-key": "k", "Cookie": "c", "Accept": "application/json"}
    HttpClient(transport=transport).request("GET", "https://a.example/r", headers)
    assert {k.lower() for k in transport.sent[1][1]} == {"user-agent", "accept"}
    same = Scripted({"https://a.example/r": _redirect("/s"), "https://a.example/s": HttpResponse(200, {}, b"{}")})
    HttpClient(transport=same).request("GET", "https://a.example/r", headers)
    assert same.sent[1][0] == "https://a.example/s" and same.sent[1][1]["Authorization"] == "Bearer x"


def test_follow_url_rules() -> None:
    assert follow_url("https://a.example/list", "/r/1") == ("https://a.example/r/1", True)
    assert follow_url("https://a.example/list", "https://A.example:443/r") == ("https://A.example:443/r", True)
    assert follow_url("https://a.example/list", "https://a.example:8443/r")[1] is False
    assert follow_url("https://a.example/list", "https://b.example/r")[1] is False
    assert follow_url("http://127.0.0.1:5/list", "http://127.0.0.1:6/r")[1] is False  # another port
    assert follow_url("http://127.0.0.1:5/list", "https://b.example/r")[1] is False


def _receipt(key: PrivateKey) -> dict[str, Any]:
    return sign_receipt(make_receipt(), key)


def test_listing_receipt_urls_get_credentials_only_on_their_origin(
    cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey
) -> None:
    with serve({"/r/elsewhere": [Reply(200, _receipt(key))]}) as other:
        routes = {
            "/list": [
                Reply(
                    200,
                    {
                        "items": [
                            {"id": "same", "receipt_url": "/r/same"},
                            {"id": "other", "receipt_url": f"{other.base_url}/r/elsewhere"},
                        ]
                    },
                )
            ],
            "/r/same": [Reply(200, _receipt(key))],
        }
        with serve(routes) as server:
            result = cli("fetch", "--profile", "continuum", "--list-url", f"{server.base_url}/list", "--all",
                         "-o", str(tmp_path / "out"), env={"CONTINUUM_TOKEN": SECRET})  # fmt: skip
            assert result.code == 0, result.err
            mine = {path.split("?")[0]: headers for _, path, headers in server.requests}
        assert mine["/r/same"]["authorization"] == f"Token {SECRET}"
        (_, path, headers) = other.requests[0]
        assert "authorization" not in headers and SECRET not in path
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other.json", "same.json"]


def test_a_query_token_does_not_follow_a_listing_elsewhere(key: PrivateKey) -> None:
    with serve({"/r": [Reply(200, _receipt(key))]}) as other:
        with serve({"/r": [Reply(200, _receipt(key))]}) as server:
            source = ReceiptSource.named(
                "continuum", environ={"CONTINUUM_TOKEN": SECRET}, token_in_query=True, client=FakeTime().client()
            )
            source.fetch_receipt(f"{other.base_url}/r", named_by=f"{server.base_url}/list")
            source.fetch_receipt("/r", named_by=f"{server.base_url}/list")
            assert f"token={SECRET}" in server.requests[0][1]
        assert SECRET not in other.requests[0][1] and "authorization" not in other.requests[0][2]


def test_execution_and_server_ids_are_quoted(cli: Callable[..., CliResult], tmp_path: Path, key: PrivateKey) -> None:
    hostile = "../../admin?x=1#y"
    quoted = "..%2F..%2Fadmin%3Fx%3D1%23y"
    routes = {
        f"/v1/executions/{quoted}/receipt": [Reply(200, {"receipt": _receipt(key)})],
        "/v1/pipelines/p%2F1/executions?limit=50&offset=0": [
            Reply(200, {"executions": [{"id": "a/b"}, {"id": ".."}], "has_more": False})
        ],
        "/v1/executions/a%2Fb/receipt": [Reply(200, {"receipt": _receipt(key)})],
        "/v1/executions/%2E%2E/receipt": [Reply(200, {"receipt": _receipt(key)})],
    }
    with serve(routes) as server:
        one = cli("fetch", "--base-url", server.base_url, "--execution", hostile, "-o", str(tmp_path / "one.json"))
        assert one.code == 0, one.err
        every = cli("fetch", "--base-url", server.base_url, "--pipeline", "p/1", "--all", "-o", str(tmp_path / "all"))
        assert every.code == 0, every.err
        paths = [path for _, path, _ in server.requests]
    assert paths[0] == f"/v1/executions/{quoted}/receipt"
    assert "/v1/executions/a%2Fb/receipt" in paths and "/v1/executions/%2E%2E/receipt" in paths
    endpoints = AttestEndpoints("https://api.example")
    assert endpoints.receipt("x y") == "https://api.example/v1/executions/x%20y/receipt"
    with pytest.raises(FetchError):
        endpoints.receipt("")


def test_reprs_hold_no_credentials() -> None:
    basic = credentials(PROFILES["continuum"], environ={"CONTINUUM_USER": "someone", "CONTINUUM_PASSWORD": SECRET})
    for creds in (
        credentials(PROFILES["attest"], environ={"ATTEST_TOKEN": SECRET}),
        credentials(PROFILES["continum"], environ={"CONTINUM_API_KEY": SECRET}),
        credentials(PROFILES["continuum"], environ={"CONTINUUM_TOKEN": SECRET}, token_in_query=True),
        basic,
    ):
        source = ReceiptSource(PROFILES["attest"], creds)
        for text in (repr(creds), repr(source), str(source)):
            assert SECRET not in text and "Authorization" not in text
    assert basic.headers["Authorization"].split()[1] not in repr(ReceiptSource(PROFILES["continuum"], basic))


def _error_paths(base: str, key: PrivateKey) -> list[Callable[[], object]]:
    """Every way the HTTP/fetch layer can fail, each with SECRET in play."""
    attest = {"ATTEST_TOKEN": SECRET}

    def attest_source(**kwargs: Any) -> ReceiptSource:
        return ReceiptSource.named("attest", environ=attest, client=FakeTime().client(**kwargs))

    def query_source() -> ReceiptSource:
        return ReceiptSource.named(
            "continuum", environ={"CONTINUUM_TOKEN": SECRET}, token_in_query=True, client=FakeTime().client()
        )

    def basic_source() -> ReceiptSource:
        env = {"CONTINUUM_USER": "user-name", "CONTINUUM_PASSWORD": SECRET}
        return ReceiptSource.named("continuum", environ=env, client=FakeTime().client())

    closed = HttpClient(timeout=1, max_attempts=1)
    return [
        lambda: query_source().fetch_receipt(f"ftp://host/r?token={SECRET}"),
        lambda: query_source().fetch_receipt(f"gopher://{SECRET}@host/r"),
        lambda: check_url(f"http://api.example.com/r?token={SECRET}"),
        lambda: check_url(f"https://host:99999/r?token={SECRET}"),
        lambda: check_url(f"not a url {SECRET}"),
        lambda: query_source().fetch_receipt(f"{base}/echo"),
        lambda: query_source().fetch_receipt(f"{base}/html"),
        lambda: query_source().fetch_receipt(f"{base}/badjson"),
        lambda: query_source().pages(f"{base}/list?token={SECRET}", "items").__next__(),
        lambda: basic_source().fetch_receipt(f"{base}/echo"),
        lambda: basic_source().fetch_receipt(f"{base}/denied"),
        lambda: attest_source().fetch_receipt(f"{base}/echo"),
        lambda: attest_source().fetch_receipt(f"{base}/denied"),
        lambda: attest_source().fetch_receipt(f"{base}/busy"),
        lambda: attest_source().fetch_receipt(f"{base}/loop"),
        lambda: attest_source().fetch_receipt(f"{base}/downgrade"),
        lambda: attest_source().fetch_receipt(f"{base}/notreceipt"),
        lambda: attest_source(max_total_wait=10_000, max_attempts=50, request_deadline=5).fetch_receipt(f"{base}/slow"),
        lambda: attest_source().fetch_receipt(f"{base}/r", named_by=f"https://api.example/list?token={SECRET}"),
        lambda: attest_source().wait_until_finished(f"{base}/status", timeout=5),
        lambda: attest_source().pages(f"{base}/echo?token={SECRET}", "items").__next__(),
        lambda: fetch_receipt_document("http://127.0.0.1:9", "e1", token=SECRET, client=closed),
        lambda: fetch_receipt_document(base, "e1", token=f"{SECRET}\r\nX: y"),
        lambda: fetch_receipt_document(base, "e1", token=f"{SECRET} x"),
        lambda: ReceiptSource.named("continue-hub", environ={"CONTINUE_HUB_API_KEY": SECRET}),
    ]


def test_no_error_path_shows_a_secret(key: PrivateKey) -> None:
    echo = {"error": {"code": f"BAD_{SECRET}", "message": f"token {SECRET} rejected", "request_id": SECRET}}
    routes = {
        "/echo": [Reply(400, echo)],
        "/denied": [Reply(401, {"message": f"bad credentials {SECRET}"})],
        "/html": [Reply(200, f"<html>{SECRET}</html>".encode(), {"Content-Type": "text/html"})],
        "/badjson": [Reply(200, f'{{"x": "{SECRET}"'.encode())],
        "/list": [Reply(200, {"no": "items"})],
        "/busy": [Reply(503, echo, {"Retry-After": "3600"})],
        "/slow": [Reply(503, echo, {"Retry-After": "4"})],
        "/loop": [Reply(302, b"", {"Location": f"/loop?token={SECRET}"})],
        "/downgrade": [Reply(302, b"", {"Location": f"https://remote.example/r?token={SECRET}"})],
        "/notreceipt": [Reply(200, {"receipt": [SECRET]})],
        "/status": [Reply(200, {"status": f"running {SECRET}"})],
        "/r": [Reply(200, {"receipt": {}})],
    }
    failures = 0
    with serve(routes) as server:
        for index, path in enumerate(_error_paths(server.base_url, key)):
            try:
                path()
            except AttestkitError as exc:
                failures += 1
                shown = [str(exc), repr(exc), *map(str, exc.args), str(exc.__dict__)]
                for text in shown:
                    assert SECRET not in text, (index, text)
            else:
                pytest.fail(f"error path {index} did not fail")
    assert failures == len(_error_paths("http://127.0.0.1:1", key))


def test_cli_errors_show_no_secret(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(SECRET)
    os.chmod(token_file, 0o600)
    echo = {"error": {"code": "AUTHENTICATION_FAILED", "message": f"token {SECRET} rejected", "request_id": "r1"}}
    with serve({"/v1/executions/e1/receipt": [Reply(401, echo)]}) as server:
        for args, env in [
            (["fetch", "--base-url", server.base_url, "--execution", "e1"], {"ATTEST_TOKEN": SECRET}),
            (["fetch", "--base-url", server.base_url, "--execution", "e1", "--token-file", str(token_file)], {}),
            (["fetch", "--profile", "continuum", "--url", f"ftp://x/r?token={SECRET}", "--token-in-query"],
             {"CONTINUUM_TOKEN": SECRET}),
            (["verify", "--base-url", server.base_url, "--execution", "e1", "--integrity-only"], {"ATTEST_TOKEN": SECRET}),
        ]:  # fmt: skip
            result = cli(*args, env=env)
            assert result.code == 2 and SECRET not in result.out + result.err, result.err


def test_redact_url() -> None:
    assert redact_url(f"https://u:{SECRET}@h.example:8/p?token={SECRET}&page=2#f") == (
        "https://h.example:8/p?token=REDACTED&page=REDACTED"
    )
    assert SECRET not in redact_url(f"https://h/p?{SECRET}")
    assert len(redact_url("https://h/" + "a" * 1000)) == 200
