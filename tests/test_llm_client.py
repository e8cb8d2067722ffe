"""The client against the chat test server: retries and what they honour, failures, concurrency, budget, pacing
and the cache."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.config import Price
from pipeline.errors import InputError, RunError
from pipeline.llm import client as client_module
from pipeline.llm.cache import ReplyCache
from pipeline.llm.client import Client
from pipeline.llm.limits import Budget, Pacer
from pipeline.llm.request import CHAT, Endpoint, PlannedRequest, host_of
from pipeline.llm.sdk import retry_after
from tests.fake_chat import KEY, Canned, FakeChat
from tests.fakeapi import Fault


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)


def planned(i: int, max_tokens: int = 50) -> PlannedRequest:
    return PlannedRequest(
        CHAT,
        "m",
        {"messages": [{"role": "user", "content": f"question {i}"}]},
        {"max_tokens": max_tokens},
        str(i),
        "test",
    )


def make_client(chat: FakeChat, tmp_path: Path, budget: Budget | None = None, **kwargs) -> Client:
    cache = ReplyCache(tmp_path / "replies.jsonl")
    return Client(Endpoint(chat.api.url, KEY, "m", host_of(chat.api.url)), cache, budget or Budget(), **kwargs)


def run_all(client: Client, n: int, **plan) -> list[tuple[str, bool]]:
    """Run n planned requests; returns (key, cached) for each answer handled."""
    answers: list[tuple[str, bool]] = []
    asyncio.run(
        client.run(
            iter(planned(i, **plan) for i in range(n)),
            lambda in_flight: True,
            lambda request, reply, cached: answers.append((request.key, cached)),
        )
    )
    client.cache.close()
    return answers


def send_one(client: Client):
    async def go():
        try:
            return await client.send(planned(0))
        finally:
            await client.close()

    return asyncio.run(go())


def test_429_waits_what_retry_after_asks(chat: FakeChat, tmp_path: Path) -> None:
    chat.api.inject(Fault(status=429, retry_after=0.6), Fault(status=429, retry_after=0.6))
    client = make_client(chat, tmp_path)
    started = time.monotonic()
    reply = send_one(client)
    assert time.monotonic() - started >= 1.2
    assert reply.choices[0].text and client.stats.retries == 2 and client.stats.errors == {"429": 2}
    assert len(chat.bodies()) == 3


def test_5xx_timeouts_drops_and_malformed_bodies_are_retried(chat: FakeChat, tmp_path: Path) -> None:
    faults = [Fault(status=500), Fault(status=503), Fault(hang=1.0), Fault(drop=True), Fault(malformed=True)]
    chat.api.inject(*faults, Fault(cut=True))
    client = make_client(chat, tmp_path, timeout=0.4)
    reply = send_one(client)
    assert reply.choices[0].text and reply.completion_tokens > 0
    assert client.stats.errors == {"500": 1, "503": 1, "timeout": 1, "connection": 2, "malformed": 1}
    assert client.stats.retries == 6 and client.stats.billed_unusable == 4  # all but the statuses may have been billed


def test_gives_up_after_the_configured_retries(chat: FakeChat, tmp_path: Path) -> None:
    chat.api.inject(*[Fault(status=502)] * 3)
    client = make_client(chat, tmp_path, retries=2)
    with pytest.raises(RunError, match=r"still failed after 3 attempts \(last: 502"):
        send_one(client)
    assert len(chat.bodies()) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried_and_never_shown(chat: FakeChat, tmp_path: Path, status: int) -> None:
    chat.api.inject(Fault(status=status))
    with pytest.raises(RunError) as failure:
        send_one(make_client(chat, tmp_path))
    assert "refused the API key" in failure.value.message and KEY not in failure.value.message
    assert len(chat.bodies()) == 1


def test_a_refused_request_stops_with_the_servers_words(chat: FakeChat, tmp_path: Path) -> None:
    chat.response_format = False
    client = make_client(chat, tmp_path)

    async def go():
        request = PlannedRequest(
            CHAT,
            "m",
            {"messages": [{"role": "user", "content": "q"}]},
            {"response_format": {"type": "json_object"}},
            "0",
            "test",
        )
        try:
            await client.send(request)
        finally:
            await client.close()

    with pytest.raises(RunError, match=r"HTTP 400.*response_format is not supported") as failure:
        asyncio.run(go())
    assert 'response_format = "none"' in failure.value.hint


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after({}) is None


def test_concurrency_is_continuous_and_bounded(chat: FakeChat, tmp_path: Path) -> None:
    chat.delay = 0.1
    client = make_client(chat, tmp_path, concurrency=8)
    started = time.monotonic()
    answers = run_all(client, 40)
    elapsed = time.monotonic() - started
    assert len(answers) == 40 and len({k for k, _ in answers}) == 40
    assert 6 <= chat.peak <= 8
    assert elapsed < 1.0  # 5 waves of 0.1 s; one request at a time would take 4 s


def test_the_cache_answers_what_was_paid_for(chat: FakeChat, tmp_path: Path) -> None:
    run_all(make_client(chat, tmp_path), 10)
    assert len(chat.bodies()) == 10
    again = make_client(chat, tmp_path)
    answers = run_all(again, 15)
    assert len(chat.bodies()) == 15 and again.stats.cached == 10 and again.stats.sent == 5
    assert sum(cached for _, cached in answers) == 10


def test_max_requests_stops_cleanly(chat: FakeChat, tmp_path: Path) -> None:
    client = make_client(chat, tmp_path, Budget(max_requests=7), concurrency=4)
    answers = run_all(client, 50)
    assert len(answers) == 7 and len(chat.bodies()) == 7 and client.stop_reason == "--max-requests 7 reached"
    assert client.error is None


def test_max_tokens_is_never_crossed_even_with_requests_in_flight(chat: FakeChat, tmp_path: Path) -> None:
    chat.delay = 0.05
    budget = Budget(max_tokens=1_000)
    client = make_client(chat, tmp_path, budget, concurrency=8)
    run_all(client, 100, max_tokens=100)
    assert budget.tokens <= 1_000 and budget.requests >= 4
    assert client.stop_reason == "--max-tokens 1,000 reached"


def test_max_cost_uses_configured_prices(chat: FakeChat, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--max-cost needs the price of 'm'"):
        Budget(max_cost=1.0, model="m")
    budget = Budget(max_cost=0.01, price=Price(input=10.0, output=30.0), model="m")
    client = make_client(chat, tmp_path, budget, concurrency=4)
    run_all(client, 500, max_tokens=100)
    assert 0 < budget.cost <= 0.01 and client.stop_reason == "--max-cost $0.01 reached"
    assert budget.cost == pytest.approx((budget.prompt_tokens * 10 + budget.completion_tokens * 30) / 1e6)


def test_only_attempts_that_may_have_been_billed_count_against_the_budget(chat: FakeChat, tmp_path: Path) -> None:
    # 429s and 5xx are answered before any work is done: retrying them is the same request.
    chat.api.inject(Fault(status=429, retry_after=0.01), Fault(status=500), Fault(status=503))
    budget = Budget(max_requests=1)
    client = make_client(chat, tmp_path, budget)
    assert len(run_all(client, 1)) == 1 and budget.requests == 1 and client.stats.billed_unusable == 0
    # A refused connection never left: it costs nothing either, however often it is retried.
    budget = Budget(max_requests=1, max_tokens=100)
    closed = Client(
        Endpoint("http://127.0.0.1:9/v1", KEY, "m", "closed"), ReplyCache(tmp_path / "other.jsonl"), budget, retries=2
    )
    run_all(closed, 1, max_tokens=50)
    assert closed.error is not None and closed.stats.errors == {"connection": 3} and closed.stats.billed_unusable == 0
    assert (budget.requests, budget.tokens) == (1, 0)


def test_requests_per_minute_spaces_the_starts(chat: FakeChat, tmp_path: Path) -> None:
    client = make_client(chat, tmp_path, pacer=Pacer(requests_per_minute=300), concurrency=8)
    started = time.monotonic()
    run_all(client, 6)
    assert time.monotonic() - started >= 5 * 0.2 - 0.05


def test_tokens_per_minute_holds_requests_back() -> None:
    pacer = Pacer(tokens_per_minute=1_000)

    async def go() -> float:
        await pacer.wait(600)
        started = time.monotonic()
        try:
            await asyncio.wait_for(pacer.wait(600), timeout=0.3)
        except TimeoutError:
            return time.monotonic() - started
        return 0.0

    assert asyncio.run(go()) >= 0.29  # the second request would pass 1,000 tokens within the minute


def test_canned_refusal_comes_back_as_a_refusal(chat: FakeChat, tmp_path: Path) -> None:
    chat.queue(Canned(refusal="I can't help with that."))
    reply = send_one(make_client(chat, tmp_path))
    assert reply.choices[0].refusal == "I can't help with that." and reply.choices[0].text == ""


def test_a_failure_to_handle_an_answer_stops_the_run(chat: FakeChat, tmp_path: Path) -> None:
    client = make_client(chat, tmp_path, concurrency=4)

    def handle(request, reply, cached):
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        asyncio.run(client.run(iter(planned(i) for i in range(100)), lambda pending: True, handle))
    assert len(chat.bodies()) < 100 and len(client.cache) >= 1  # what was answered is cached for the rerun
    client.cache.close()


def test_the_benchmarks_asyncio_server_answers_and_injects_faults_as_the_threaded_one(tmp_path: Path) -> None:
    import queue
    import threading

    from tests.fakeapi import FakeAPI

    chat = FakeChat(FakeAPI())
    urls: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=chat.api.serve_forever_async, args=(urls.put,), daemon=True).start()
    url = urls.get(timeout=10)
    chat.api.inject(Fault(status=503), Fault(drop=True), Fault(malformed=True), Fault(cut=True))
    client = Client(Endpoint(url, KEY, "m", host_of(url)), ReplyCache(tmp_path / "replies.jsonl"), Budget())
    answers = run_all(client, 6)
    assert len(answers) == 6 and client.stats.sent == 6
    assert client.stats.errors == {"503": 1, "connection": 2, "malformed": 1}
    assert len(chat.bodies()) == 10
