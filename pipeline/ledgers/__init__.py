"""The project's ledgers: append-only records of what was sent to a provider and paid for (`batches`: Batch API
submissions; `uploads`: uploaded files and fine-tuning jobs), read by every stage that must not send twice."""
