"""Build: the steps from seeds and accepted reviews to train/val/test (`steps`), the Hugging Face dataset
(`dataset`) and `report.md` (`report`)."""
