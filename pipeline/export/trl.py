"""Hugging Face TRL: the set in TRL's conversational formats (`messages` for SFT; `prompt`, `chosen`, `rejected`
for DPO) and a short `train.py` running `SFTTrainer` or `DPOTrainer` on it with LoRA settings left to TRL's
defaults. `script` is shared with the Unsloth export, which only loads the model differently.
"""

from __future__ import annotations

from typing import Any

from pipeline.export import Exporter, Layout, plain_messages

EPOCHS = 3


def trl_line(example: dict[str, Any], fmt: str) -> dict[str, Any]:
    """One line in TRL's conversational format; tool definitions are kept for chat templates that use them."""
    if fmt == "dpo":
        return {
            "prompt": plain_messages(example["input"]["messages"]),
            "chosen": plain_messages(example["preferred_output"]),
            "rejected": plain_messages(example["non_preferred_output"]),
        }
    line: dict[str, Any] = {"messages": plain_messages(example["messages"])}
    if example.get("tools"):
        line["tools"] = example["tools"]
    return line


def script(layout: Layout, title: str, imports: str, load: str, model_arg: str, save: str) -> str:
    """A runnable training script for this directory's files: TRL's trainer, the model loaded by `load`."""
    dpo = layout.fmt == "dpo"
    trainer, config = ("DPOTrainer", "DPOConfig") if dpo else ("SFTTrainer", "SFTConfig")
    files = {"train" if role == "train" else "validation": name for role, name in layout.data.items()}
    evaluation = 'eval_dataset=data["validation"],\n    ' if layout.validation else ""
    return f'''"""{title}: fine-tune {layout.model} on the files beside this script. Run: python train.py"""

from pathlib import Path

{imports}
from datasets import load_dataset
from trl import {config}, {trainer}

HERE = Path(__file__).resolve().parent
MODEL = {layout.model!r}
{load}
data = load_dataset("json", data_files={{split: str(HERE / name) for split, name in {files!r}.items()}})
trainer = {trainer}(
    model={model_arg},
    train_dataset=data["train"],
    {evaluation}args={config}(output_dir=str(HERE / "output"), num_train_epochs={EPOCHS}, logging_steps=10),
)
trainer.train()
{save}
'''


class TRLExporter(Exporter):
    name = "trl"
    label = "TRL"
    default_model = "Qwen/Qwen2.5-0.5B-Instruct"

    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        return trl_line(example, fmt)

    def configs(self, layout: Layout) -> dict[str, str]:
        return {"train.py": script(layout, "TRL", "", "", "MODEL", 'trainer.save_model(str(HERE / "output"))')}

    def readme(self, layout: Layout) -> str:
        kind = (
            "`prompt`, `chosen` and `rejected` (conversational preference format)"
            if layout.fmt == "dpo"
            else "`messages`"
        )
        return f"""# Training with TRL

`{layout.train}`{f" and `{layout.validation}`" if layout.validation else ""} hold the set in TRL's conversational
format: one JSON object per line with {kind}. `train.py` fine-tunes `{layout.model}` on them with
`{"DPOTrainer" if layout.fmt == "dpo" else "SFTTrainer"}` for {EPOCHS} epochs and saves the result in `output/`.

```sh
pip install trl datasets
python train.py          # edit MODEL in train.py to train another base model
```
"""
