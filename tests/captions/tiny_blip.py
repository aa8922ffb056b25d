"""A tiny random BLIP captioning model and BERT-style tokenizer, written offline to a folder.

The folder has the same files as a Hugging Face BLIP checkpoint (config.json, model.safetensors,
preprocessor_config.json, vocab.txt, tokenizer config), so the product's real loading code reads it.
"""

from __future__ import annotations

from pathlib import Path

WORDS = ["a", "photo", "of", "dog", "cat", "red", "blue", "sitting", "on", "grass", "teapot", "table",
         "person", "wearing", "hat", "backpack", "plush", "sloth", "in", "the", "with", "white", "green"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]


def write_tiny_blip(folder: Path, *, image_size: int = 32, safetensors: bool = True, seed: int = 0) -> Path:
    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True, bos_token="[DEC]",
                        model_max_length=64)
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    BlipProcessor(image_processor, tok).save_pretrained(str(folder))
    ids = {t: i for i, t in enumerate(vocab)}
    config = BlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, encoder_hidden_size=32, max_position_embeddings=64,
                         bos_token_id=ids["[DEC]"], eos_token_id=ids["[SEP]"], sep_token_id=ids["[SEP]"],
                         pad_token_id=ids["[PAD]"]),
        projection_dim=32,
    )
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config)
    model.save_pretrained(str(folder), safe_serialization=safetensors)
    return folder
