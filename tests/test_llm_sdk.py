"""The one SDK factory and error mapping (`pipeline.llm.sdk`) and the one key lookup (`read_key`): each flavour of
client speaks to a local test server over real HTTP, and every stage's errors read the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.config import AzureUploadConfig
from pipeline.errors import RunError, Transient
from pipeline.eval.systems import System, endpoint_of
from pipeline.generation.batch.api import RETRIES, BatchAPI
from pipeline.llm.endpoint import read_key
from pipeline.llm.request import Endpoint, host_of
from pipeline.llm.sdk import client_for, post, sdk_error
from tests.fakeapi import FakeAPI, Fault, Request

KEY = "test-key-not-real"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI()

    @server.route("GET", r"/v1/batches/(?P<id>[^/]+)$")
    def batch(request):
        return 200, {
            "id": request.match["id"],
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": "file-1",
            "completion_window": "24h",
            "status": "in_progress",
            "created_at": 1,
        }

    @server.route("GET", r"/openai/files$")
    def files(request):
        return 200, {"object": "list", "data": []}

    server.start()
    yield server
    server.stop()


def endpoint(api: FakeAPI, base_url: str | None = None) -> Endpoint:
    url = base_url or api.url
    return Endpoint(url, KEY, "m", host_of(url))


def headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def test_the_sync_client_retries_itself_and_sends_the_key_as_a_bearer(api: FakeAPI) -> None:
    api.inject(Fault(status=503, retry_after=0.01))
    client = client_for(endpoint(api), retries=1)
    assert client.batches.retrieve("b1").status == "in_progress"
    sent = api.requests("/batches/b1")
    assert len(sent) == 2 and {headers(r)["authorization"] for r in sent} == {f"Bearer {KEY}"}


def test_the_azure_client_asks_its_api_version_with_an_api_key_header(api: FakeAPI) -> None:
    resource = api.url.removesuffix("/v1")
    client = client_for(endpoint(api, resource), retries=0, azure=AzureUploadConfig(api_version="2024-10-21"))
    assert list(client.files.list()) == []
    (sent,) = api.requests("/openai/files")
    assert (
        "api-version=2024-10-21" in sent.path and sent.headers["api-key"] == KEY and "Authorization" not in sent.headers
    )


def test_the_async_clients_requests_skip_httpx_and_carry_what_the_sdk_sets(
    api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run loop's client builds a plain POST itself (httpx's request building never runs), with the SDK's
    key, headers and timeout; a request that needs more (a query) still takes httpx's whole path."""
    import asyncio

    import openai

    @api.route("POST", r"/v1/echo")
    def echo(request):
        return 200, {"ok": True}

    built_by_httpx: list[str] = []
    httpx_build = openai.DefaultAioHttpClient.build_request

    def counted(self, method, url, **kwargs):
        built_by_httpx.append(str(url))
        return httpx_build(self, method, url, **kwargs)

    monkeypatch.setattr(openai.DefaultAioHttpClient, "build_request", counted)

    async def send(**options) -> bytes:
        client = client_for(endpoint(api), retries=0, timeout=7.5, pool=2)
        try:
            if not options:
                return await post(client, "/echo", b'{"a": 1}')  # the run loop's way
            return await client.post("/echo", cast_to=bytes, content=b'{"a": 1}', **options)
        finally:
            await client.close()

    assert asyncio.run(send()) == b'{"ok": true}' and built_by_httpx == []
    (sent,) = api.requests("/echo")
    seen = headers(sent)
    assert sent.body == b'{"a": 1}' and seen["authorization"] == f"Bearer {KEY}"
    assert seen["content-type"] == "application/json" and seen["x-stainless-read-timeout"] == "7.5"
    asyncio.run(send(options={"params": {"q": "1"}}))
    assert len(built_by_httpx) == 1 and api.requests("/echo")[-1].path.endswith("/echo?q=1")


def test_a_rate_limit_that_outlasts_the_retries_reads_the_same_in_batch_as_in_upload(api: FakeAPI) -> None:
    api.inject(*[Fault(status=429, retry_after=0.01)] * (RETRIES + 1))
    with pytest.raises(Transient) as failure:
        BatchAPI(endpoint(api), "MY_KEY").retrieve("b1")
    assert failure.value.message == (
        f"{host_of(api.url)} is still rate limiting (429) after {RETRIES} retries during reading batch b1: injected 429"
    )
    assert failure.value.maybe_done is False and failure.value.retry_after == 0.01


def test_a_refused_key_names_its_variable_and_a_5xx_may_pass(api: FakeAPI) -> None:
    batches = BatchAPI(endpoint(api), "MY_KEY")
    api.inject(Fault(status=401))
    with pytest.raises(RunError) as refused:
        batches.retrieve("b1")
    assert not isinstance(refused.value, Transient)
    assert refused.value.message == f"{host_of(api.url)} refused the key in MY_KEY (401) during reading batch b1"
    assert KEY not in refused.value.message + str(refused.value.hint)
    api.inject(*[Fault(status=500, retry_after=0.01)] * (RETRIES + 1))
    with pytest.raises(Transient, match="answered 500 during reading batch b1: injected 500"):
        batches.retrieve("b1")


def test_a_lost_connection_is_transient_and_may_have_been_acted_on() -> None:
    import openai

    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there
    with pytest.raises(openai.APIConnectionError) as lost:
        client_for(Endpoint(dead, KEY, "m", "OpenAI"), retries=0).files.list()
    error = sdk_error(lost.value, "OpenAI", "the upload of train.jsonl", "MY_KEY", dead)
    assert isinstance(error, Transient) and error.maybe_done is True
    assert error.message.startswith(f"cannot reach OpenAI at {dead} during the upload of train.jsonl: ")


def test_every_stage_reads_a_key_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key pasted with a trailing newline or spaces is the key; a blank one is no key (eval read it raw)."""
    monkeypatch.setenv("EVAL_KEY", "  test-eval-test\n")
    assert read_key("EVAL_KEY") == "test-eval-test"
    system = System("tuned", "openai", "m", "https://gateway.example/v1", "EVAL_KEY", 0, False)
    assert endpoint_of(system, None).api_key == "test-eval-test"
    monkeypatch.setenv("EVAL_KEY", "   ")
    assert read_key("EVAL_KEY") == ""
    with pytest.raises(Exception, match="EVAL_KEY is not set"):
        endpoint_of(system, None)
