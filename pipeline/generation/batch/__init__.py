"""Generate at scale: hand the planned requests to a provider's Batch API, or to batch files run elsewhere, and
take the answers back through the same path as online replies.

- `send` and `collect`: `ftboot batch send`, `collect`, `resubmit`, `write` and `read`: planning, sizing,
  writing, collecting.
- `submit`: uploading planned input files, creating their batches, recovering after a crash.
- `files`: the Batch API input, output and error file format (OpenAI's, which `vllm run-batch` also reads).
- `api`: the provider's files and batches through the openai SDK.
- `judging`: `ftboot judge --batch`, the candidate judge's requests through the same batches, scored at collect.
- `ledger`: outputs/batches.jsonl, what was planned and sent and what came back.

It leaves waiting for a batch to finish (`batch collect` reads once and returns) and cancelling one to the user.
"""
