"""Unsloth: the same files as the TRL export (Unsloth trains through TRL's trainers) and a `train.py` that loads
the base model with Unsloth's `FastLanguageModel` in 4 bits and adds LoRA adapters before training, then saves
the adapters.
"""

from __future__ import annotations

from pipeline.export import Layout
from pipeline.export.trl import EPOCHS, TRLExporter, script

LOAD = """model, tokenizer = FastLanguageModel.from_pretrained(model_name=MODEL, max_seq_length=2048, load_in_4bit=True)
model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=16, target_modules=[
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
"""


class UnslothExporter(TRLExporter):  # the same lines; its own script and README
    name = "unsloth"
    label = "Unsloth"
    default_model = "unsloth/Llama-3.2-1B-Instruct"

    def configs(self, layout: Layout) -> dict[str, str]:
        # Unsloth must be imported before TRL so that its patches apply; DPO needs its trainer patch as well.
        imports = (
            "from unsloth import FastLanguageModel, PatchDPOTrainer\n\nPatchDPOTrainer()"
            if layout.fmt == "dpo"
            else "from unsloth import FastLanguageModel"
        )
        return {
            "train.py": script(
                layout,
                "Unsloth",
                imports,
                LOAD,
                "model,\n    processing_class=tokenizer",
                'model.save_pretrained(str(HERE / "lora"))\ntokenizer.save_pretrained(str(HERE / "lora"))',
            )
        }

    def readme(self, layout: Layout) -> str:
        return f"""# Training with Unsloth

`{layout.train}`{f" and `{layout.validation}`" if layout.validation else ""} hold the set in TRL's conversational
format (Unsloth trains through TRL). `train.py` loads `{layout.model}` in 4 bits with LoRA adapters (rank 16),
trains for {EPOCHS} epochs and saves the adapters in `lora/`. It needs an NVIDIA GPU.

```sh
pip install unsloth
python train.py          # edit MODEL in train.py to train another base model
```
"""
