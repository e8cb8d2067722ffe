"""axolotl: the set in the shape of axolotl's `chat_template` dataset type (`messages`, trained on assistant turns
with the base model's own chat template) or, for DPO, `chat_template.default` (`messages` for the prompt, one
`chosen` and one `rejected` assistant message), and a `config.yml` naming the files, with LoRA settings.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.export import Exporter, Layout, plain_messages

EPOCHS = 3


class AxolotlExporter(Exporter):
    name = "axolotl"
    label = "axolotl"
    default_model = "Qwen/Qwen2.5-0.5B-Instruct"

    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        if fmt == "dpo":
            return {
                "messages": plain_messages(example["input"]["messages"]),
                "chosen": plain_messages(example["preferred_output"])[0],
                "rejected": plain_messages(example["non_preferred_output"])[0],
            }
        return {"messages": plain_messages(example["messages"])}

    def _dataset(self, path: str, fmt: str) -> dict[str, Any]:
        if fmt == "dpo":
            return {
                "path": path,
                "ds_type": "json",
                "split": "train",
                "type": "chat_template.default",
                "field_messages": "messages",
                "field_chosen": "chosen",
                "field_rejected": "rejected",
            }
        return {
            "path": path,
            "ds_type": "json",
            "split": "train",
            "type": "chat_template",
            "field_messages": "messages",
            "roles_to_train": ["assistant"],
        }

    def configs(self, layout: Layout) -> dict[str, str]:
        config: dict[str, Any] = {"base_model": layout.model, "chat_template": "tokenizer_default"}
        if layout.fmt == "dpo":
            config["rl"] = "dpo"
        config["datasets"] = [self._dataset(layout.train, layout.fmt)]
        if layout.validation:
            config["test_datasets"] = [self._dataset(layout.validation, layout.fmt)]
        else:
            config["val_set_size"] = 0
        config.update(
            adapter="lora",
            lora_r=16,
            lora_alpha=32,
            lora_dropout=0.05,
            lora_target_linear=True,
            sequence_len=2048,
            micro_batch_size=2,
            gradient_accumulation_steps=4,
            num_epochs=EPOCHS,
            learning_rate=0.0002,
            optimizer="adamw_torch",
            lr_scheduler="cosine",
            output_dir="./output",
        )
        return {"config.yml": yaml.safe_dump(config, sort_keys=False)}

    def readme(self, layout: Layout) -> str:
        return f"""# Training with axolotl

`{layout.train}`{f" and `{layout.validation}`" if layout.validation else ""} hold the set for axolotl's
`{"chat_template.default" if layout.fmt == "dpo" else "chat_template"}` dataset type. `config.yml` names them
(paths relative to this directory) and trains LoRA adapters on `{layout.model}` with its own chat template for
{EPOCHS} epochs{" with DPO" if layout.fmt == "dpo" else ""}; the result goes to `output/`.

```sh
pip install axolotl
cd THIS_DIRECTORY
axolotl train config.yml       # edit base_model in config.yml to train another model
```
"""
