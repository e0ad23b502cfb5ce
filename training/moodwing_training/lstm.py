"""Approach 2, the advanced custom model: a WordPiece tokenizer and word embeddings learned on the
training tweets, a bidirectional LSTM, and masked mean + max pooling."""

from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .data import Tweet
from .neural import LoopConfig, masked_max, masked_mean
from .normalize import normalize

PAD, UNK = "[PAD]", "[UNK]"


@dataclass(frozen=True)
class LstmConfig:
    vocab_size: int = 12_000
    max_length: int = 64
    embedding_dim: int = 128
    hidden_size: int = 128
    dropout: float = 0.4
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(epochs=10, batch_size=64, learning_rate=2e-3, weight_decay=1e-4, patience=2)
    )


def train_tokenizer(train: list[Tweet], config: LstmConfig) -> Tokenizer:
    """A lower-casing WordPiece tokenizer learned from the normalised training tweets only."""
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=50))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=config.vocab_size, min_frequency=2, special_tokens=[PAD, UNK], show_progress=False
    )
    tokenizer.train_from_iterator((normalize(t.text) for t in train), trainer=trainer)
    tokenizer.enable_truncation(max_length=config.max_length)
    return tokenizer


class BiLstmClassifier(nn.Module):
    def __init__(self, vocab_size: int, config: LstmConfig, pad_id: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(4 * config.hidden_size, 2)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Packing keeps padding out of the backward direction, so a padded batch gives the same
        # answer as each tweet alone at its real length, which is how the edge model runs it.
        lengths = attention_mask.sum(1).cpu()
        packed = pack_padded_sequence(
            self.dropout(self.embedding(input_ids)), lengths, batch_first=True, enforce_sorted=False
        )
        hidden, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        return self._classify(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The exported graph: unpacked, so it is exact for unpadded input (one tweet at a time)."""
        hidden, _ = self.lstm(self.embedding(input_ids))
        return torch.softmax(self._classify(hidden, attention_mask), dim=-1)

    def _classify(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([masked_mean(hidden, attention_mask), masked_max(hidden, attention_mask)], dim=-1)
        return self.head(self.dropout(pooled))


def build(train: list[Tweet], config: LstmConfig) -> tuple[BiLstmClassifier, Tokenizer, int]:
    tokenizer = train_tokenizer(train, config)
    pad_id = tokenizer.token_to_id(PAD)
    model = BiLstmClassifier(tokenizer.get_vocab_size(), config, pad_id)
    return model, tokenizer, pad_id
