"""The openai SDK at ftboot's seams: one factory that builds a client for an `Endpoint`, and one mapper that turns
the SDK's exceptions into the project's errors, used by online generation, the Batch API, the judge, eval and upload.

`client_for` builds the sync client (the Batch API and upload, with the SDK's own retries), the Azure flavour of
it (an `api-version` query and an `api-key` header) or the async client of the online run loop over aiohttp's
connection pool (`pool` connections, all kept alive), without the httpx layers its requests do not use. `sdk_error` names the host and what was being done, never
the key: a refused key names the variable it came from, a refused request shows the provider's own message, and
what may pass (a 429, a 5xx, a lost connection) is a `Transient` with the wait the server asked for. How
often to retry, and whether a retry may pay twice, is the caller's business; so is reading a successful answer.
"""

from __future__ import annotations

import email.utils
import time
from functools import cache
from typing import TYPE_CHECKING, Any, overload

from pipeline.config import AzureUploadConfig
from pipeline.errors import RunError, Transient
from pipeline.llm.request import Endpoint

if TYPE_CHECKING:
    import openai

RETRY_AFTER_CAP = 600.0
PARSED_URLS = 64  # request URLs kept parsed per client: an endpoint's few paths


@cache
def _aiohttp_client_class() -> Any:
    """The SDK's `DefaultAioHttpClient` without the httpx layers a request from the SDK does not use here (base URL,
    header and cookie merging, auth flows, event hooks, the response stream's wrapper), which cost as much CPU per
    request as aiohttp itself. The SDK still builds every request (auth, URL, headers, timeout) and turns the answer
    or the transport's error into its typed ones; anything else it asks for (custom auth, query parameters, files,
    a redirect to follow) takes httpx's whole path, as before."""
    import httpx2
    import openai

    class Client(openai.DefaultAioHttpClient):
        def build_request(self, method: str, url: Any, **kwargs: Any) -> httpx2.Request:
            timeout = kwargs.get("timeout")
            rest = [value for name, value in kwargs.items() if name not in ("content", "headers", "timeout")]
            if any(value is not None for value in rest) or not isinstance(timeout, (float, int, httpx2.Timeout)):
                return super().build_request(method, url, **kwargs)
            # The SDK passes the client's timeout as the number it was given.
            extensions = {"timeout": httpx2.Timeout(timeout).as_dict()}
            if isinstance(url, str):  # the SDK passes the URL it merged as a string: parsed again once, not each time
                parsed = self.__dict__.setdefault("_parsed_urls", {})
                if url not in parsed and len(parsed) < PARSED_URLS:
                    parsed[url] = httpx2.URL(url)
                url = parsed.get(url, url)
            return httpx2.Request(
                method, url, content=kwargs.get("content"), headers=kwargs.get("headers"), extensions=extensions
            )

        async def send(self, request: httpx2.Request, *, stream: bool = False, **kwargs: Any) -> httpx2.Response:
            if kwargs:
                return await super().send(request, stream=stream, **kwargs)
            response = await self._transport.handle_async_request(request)
            response.request = request
            if response.has_redirect_location:
                await response.aclose()
                return await super().send(request, stream=stream)
            if not stream:
                try:
                    await _read(response)
                except BaseException:
                    await response.aclose()
                    raise
            return response

    return Client


async def _read(response: Any) -> None:
    """Read a whole answer from aiohttp in one call: httpx's `aread` passes the body through four async generators
    (about a twelfth of the run loop's CPU). An encoded body (gzip, ...) still takes httpx's path, which decodes it;
    aiohttp's errors become httpx's, as the SDK expects."""
    from openai._vendor.httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

    stream = response.stream
    if (
        not isinstance(stream, AiohttpResponseStream)
        or response.headers.get("content-encoding", "identity") != "identity"
    ):
        await response.aread()
        return
    with map_aiohttp_exceptions():
        response._content = await stream._aiohttp_response.read()
    response.is_stream_consumed = True  # read, not lost: the SDK shows an error's body only then
    await response.aclose()


@cache
def _post_template(path: str) -> Any:
    from openai._models import FinalRequestOptions

    return FinalRequestOptions.construct(method="post", url=path, json_data=None, files=None)


async def post(client: openai.AsyncOpenAI, path: str, content: bytes) -> bytes:
    """`client.post(path, cast_to=bytes, content=content)`, with the SDK's options copied from one made per path:
    making them anew (the SDK's pydantic construct) took about 35 µs a request, copying them 2."""
    options = _post_template(path).model_copy(update={"content": content})
    return await client.request(bytes, options)


@cache
def _async_openai_class() -> Any:
    """`openai.AsyncOpenAI` that merges a path with the base URL once per path rather than once per request (a
    parse of both URLs each time, about a twentieth of the run loop's CPU at hundreds of requests a second)."""
    import openai

    class AsyncOpenAI(openai.AsyncOpenAI):
        def _prepare_url(self, url: str) -> Any:
            base, cache = self.base_url, self.__dict__.setdefault("_prepared_urls", {})
            known = cache.get(url)
            if known is None or known[0] is not base:  # the base URL may be set anew on a client
                known = cache[url] = (base, super()._prepare_url(url))
            return known[1]

    return AsyncOpenAI


@overload
def client_for(
    endpoint: Endpoint, *, retries: int, timeout: float | None = None, azure: AzureUploadConfig | None = None
) -> openai.OpenAI: ...
@overload
def client_for(endpoint: Endpoint, *, retries: int, timeout: float, pool: int) -> openai.AsyncOpenAI: ...
def client_for(
    endpoint: Endpoint,
    *,
    retries: int,
    timeout: float | None = None,
    pool: int | None = None,
    azure: AzureUploadConfig | None = None,
) -> openai.OpenAI | openai.AsyncOpenAI:
    """An SDK client for `endpoint` that retries `retries` times itself: async over an aiohttp pool of `pool`
    connections when `pool` is given, Azure's when `azure` is, else the plain sync one. No `timeout`: the SDK's."""
    import openai

    options: dict[str, Any] = {"api_key": endpoint.api_key, "max_retries": retries}
    if timeout is not None:
        options["timeout"] = timeout
    if pool is not None:
        # aiohttp's pool instead of the SDK's default one, which walks every connection and every waiting request
        # on each request and each answer and keeps only 100 connections alive: at concurrency 1,000 its
        # bookkeeping and reconnections took most of the client's CPU. One connection per worker, kept.
        limits = type(openai.DEFAULT_CONNECTION_LIMITS)(max_connections=pool, max_keepalive_connections=pool)
        http = _aiohttp_client_class()(limits=limits, timeout=timeout)
        return _async_openai_class()(base_url=endpoint.base_url, http_client=http, **options)
    if azure is not None:
        return openai.AzureOpenAI(
            azure_endpoint=endpoint.base_url,
            api_version=azure.api_version,
            azure_deployment=azure.deployment or None,
            **options,
        )
    return openai.OpenAI(base_url=endpoint.base_url, **options)


def retry_after(headers: Any) -> float | None:
    """Seconds a 429/503 asks us to wait (retry-after-ms, retry-after in seconds or as an HTTP date)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return min(max(float(value) / scale, 0.0), RETRY_AFTER_CAP)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed:
                return min(max(email.utils.mktime_tz(parsed) - time.time(), 0.0), RETRY_AFTER_CAP)
    return None


def error_message(exc: Any) -> str:
    """The provider's own message in an SDK status error, whether its body is the error or wraps it."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))


def sdk_error(
    exc: openai.APIStatusError | openai.APIConnectionError,
    host: str,
    doing: str = "",
    key_env: str = "",
    url: str = "",
    retries: int = 0,
) -> RunError:
    """The project's error for an SDK error met by `host` (a label) at `url` while `doing` something, after the
    SDK's `retries`. Without `doing` (a request like any other) the status reads `HTTP 400`."""
    import openai

    during = f" during {doing}" if doing else ""
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        at = f" at {url}" if url else ""
        return Transient(
            f"cannot reach {host}{at}{during}: {exc.__cause__ or exc}",
            maybe_done=True,  # the request may have arrived and been acted on
            hint="check the network and the endpoint, then run the same command again; nothing is sent twice",
        )
    return status_error(exc.status_code, error_message(exc), exc.response.headers, host, doing, key_env, retries)


def status_error(
    status: int, detail: str, headers: Any, host: str, doing: str = "", key_env: str = "", retries: int = 0
) -> RunError:
    """The project's error for an HTTP error status with the provider's message `detail`, from the SDK or from a
    plain HTTP client (Fireworks); the arguments as `sdk_error`'s."""
    during = f" during {doing}" if doing else ""
    code = str(status) if doing else f"HTTP {status}"
    if status in (401, 403):
        named = f"key in {key_env}" if key_env else "API key"
        return RunError(
            f"{host} refused the {named} ({code}){during}",
            hint=f"check {key_env or 'the key'}: it may be revoked, lack the permission or be for another service",
        )
    wait = retry_after(headers)
    if status == 429:
        return Transient(
            f"{host} is still rate limiting ({code}) after {retries} retries{during}: {detail}",
            maybe_done=False,  # refused before any work
            retry_after=wait,
            hint="wait a while and run the same command again",
        )
    if status >= 500:
        return Transient(f"{host} answered {code}{during}: {detail}", maybe_done=True, retry_after=wait)
    hint = (
        'the server has no structured output: set response_format = "none" under [generate]'
        if "response_format" in detail
        else None
    )
    return RunError(f"{host} rejected {doing or 'the request'} ({code}): {detail}", hint=hint)
