"""The one path by which ftboot talks to a language model: the openai SDK against any OpenAI-compatible endpoint.

- `request`: planned requests and their cache keys, the normalized reply, where requests go.
- `endpoint`: which URL, key variable and model a stage's requests use; `read_key`, the one reading of a key.
- `sdk`: the one factory of openai SDK clients and the one mapping of the SDK's errors to `pipeline.errors`.
- `client`: continuous bounded concurrency, retries with backoff, and the run loop that answers from the cache
  first.
- `limits`: the hard budget (requests, tokens, cost) and the requests/tokens-per-minute pacing.
- `cache`: every reply on disk, keyed by the hash of the whole request, so nothing is paid for twice.
- `local`: the life cycle of the bundled llama.cpp server that makes the offline default an endpoint like any other.

What to ask and what to keep of the answers is the generate stage's business, not this package's.
"""
