"""Generation: planned requests sent online (`online`) or through a provider's Batch API or batch files
(`batch/`), each reply screened by `filters` into candidates and rejects."""
