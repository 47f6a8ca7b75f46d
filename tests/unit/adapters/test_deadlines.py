"""HTTP deadlines (issue 15 item 4): a server dripping bytes, or asking to retry forever, cannot hold a gate.

The socket timeout bounds one operation; a server sending one byte per interval never trips
it. These tests use real servers on 127.0.0.1 that drip, and an injected clock wherever the
waiting is attestkit's own (retries, polling), so nothing sleeps for real but the drip itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from attestkit.adapters.attest import fetch_receipt_document
from attestkit.adapters.http import HttpClient
from attestkit.adapters.source import ReceiptSource
from attestkit.errors import FetchError
from tests.conftest import CliResult
from tests.http_server import FakeTime, Reply, serve

PATH = "/v1/executions/e1/receipt"


@pytest.mark.slow
@pytest.mark.parametrize("drip_head", [False, True])
def test_a_dripping_server_hits_the_request_deadline(drip_head: bool) -> None:
    # One byte every 0.1 s: the 5 s socket timeout would never fire; the 1 s deadline does.
    with serve({PATH: [Reply(200, drip=0.1, drip_head=drip_head)]}) as server:
        client = HttpClient(timeout=5.0, request_deadline=1.0, max_attempts=1)
        with pytest.raises(FetchError) as info:
            fetch_receipt_document(server.base_url, "e1", token="t", client=client)
    assert info.value.code == "deadline"
    assert "deadline" in str(info.value)


@pytest.mark.slow
def test_the_overall_deadline_caps_the_request_deadline() -> None:
    with serve({PATH: [Reply(200, drip=0.1)]}) as server:
        client = HttpClient(timeout=5.0, request_deadline=600.0)
        client.deadline = client.monotonic() + 1.0
        with pytest.raises(FetchError, match="overall deadline") as info:
            fetch_receipt_document(server.base_url, "e1", token="t", client=client)
    assert info.value.code == "deadline"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_cli_deadline_against_a_dripping_server(cli: Callable[..., CliResult], how: str) -> None:
    with serve({PATH: [Reply(200, drip=0.2)]}) as server:
        args = ["fetch", "--base-url", server.base_url, "--execution", "e1"]
        if how == "flag":
            result = cli(*args, "--deadline", "2s")
        else:
            result = cli(*args, env={"ATTESTKIT_FETCH_DEADLINE": "2s"})
    assert result.code == 2
    assert "deadline ran out" in result.err and len(result.err.splitlines()) == 1


@pytest.mark.parametrize("value", ["0s", "soon", "-1m"])
def test_bad_deadlines_are_usage_errors(cli: Callable[..., CliResult], value: str) -> None:
    result = cli("fetch", "--execution", "e1", "--base-url", "http://127.0.0.1:9", "--deadline", value)
    assert result.code == 2 and "--deadline" in result.err
    env = cli("fetch", "--execution", "e1", "--base-url", "http://127.0.0.1:9", env={"ATTESTKIT_FETCH_DEADLINE": value})
    assert env.code == 2 and "ATTESTKIT_FETCH_DEADLINE" in env.err


def test_retries_stop_at_the_deadline_without_sleeping_past_it() -> None:
    fake = FakeTime()
    replies = [Reply(503, b"", {"Retry-After": "20"})]
    with serve({PATH: replies}) as server:
        client = fake.client(max_attempts=100, max_total_wait=10_000.0, request_deadline=10_000.0)
        client.deadline = fake.monotonic() + 50.0
        with pytest.raises(FetchError, match="next attempt would start 20s later") as info:
            fetch_receipt_document(server.base_url, "e1", token="t", client=client)
        assert info.value.code == "deadline"
        assert fake.slept == [20.0, 20.0]  # a third wait would end past the 50 s deadline
        assert len(server.requests) == 3


def test_per_request_deadline_counts_retry_waits() -> None:
    fake = FakeTime()
    with serve({PATH: [Reply(429, b"", {"Retry-After": "25"})]}) as server:
        client = fake.client(max_attempts=10, max_total_wait=10_000.0, request_deadline=60.0)
        with pytest.raises(FetchError, match="60s request deadline") as info:
            fetch_receipt_document(server.base_url, "e1", token="t", client=client)
    assert info.value.code == "deadline" and fake.slept == [25.0, 25.0]


def test_wait_polling_stops_at_the_overall_deadline() -> None:
    fake = FakeTime()
    with serve({"/s": [Reply(200, {"status": "running"})]}) as server:
        client = fake.client()
        client.deadline = fake.monotonic() + 40.0
        source = ReceiptSource.named("continuum", environ={}, client=client)
        with pytest.raises(FetchError, match="overall deadline") as info:
            source.wait_until_finished(f"{server.base_url}/s", timeout=3600)
    assert info.value.code == "deadline"
    assert fake.slept == [1.0, 2.0, 4.0, 8.0, 15.0]  # 30 s waited; the next 15 s would pass 40 s
    assert sum(fake.slept) <= 40.0


def test_wait_timeout_uses_the_injected_clock() -> None:
    fake = FakeTime()
    with serve({"/s": [Reply(200, {"status": "queued"})]}) as server:
        source = ReceiptSource.named("continuum", environ={}, client=fake.client())
        with pytest.raises(FetchError, match="still 'queued' after waiting 20s") as info:
            source.wait_until_finished(f"{server.base_url}/s", timeout=20)
    assert info.value.code == "wait-timeout" and fake.slept == [1.0, 2.0, 4.0, 8.0]
