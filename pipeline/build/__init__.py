"""Build: from seeds and accepted reviews to train/val/test: what it starts from (`inputs`), the steps (`steps`),
the run that drives them and writes the outputs (`run`), the Hugging Face dataset (`dataset`) and `report.md`
(`report`)."""
