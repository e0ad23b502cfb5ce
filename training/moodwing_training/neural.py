"""What the two neural approaches share: encoding with a `tokenizers` tokenizer, the training loop
with early stopping, batched prediction and masked pooling.

A neural classifier here is an `nn.Module` with
- `logits(input_ids, attention_mask)`, used to train and evaluate on padded batches, and
- `forward(input_ids, attention_mask)` -> probabilities `[batch, 2]`, the graph exported to ONNX.
"""

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tokenizers import Tokenizer
from torch import nn

from .data import Tweet
from .normalize import normalize


@dataclass(frozen=True)
class LoopConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int  # epochs without a better validation ROC-AUC before stopping
    warmup_fraction: float = 0.0
    seed: int = 13
    threads: int = 2


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, normalised exactly as the edge model does it; never empty."""
    encodings = tokenizer.encode_batch([normalize(t) for t in texts])
    unk = tokenizer.token_to_id("[UNK]")
    return [e.ids if e.ids else [unk] for e in encodings]


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids, mask


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def masked_max(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1)
    return hidden.masked_fill(mask == 0, -1e4).max(1).values


def _lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Constant without warm-up; otherwise linear warm-up, then linear decay to zero."""
    if not warmup_steps:
        return 1.0
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / (total_steps - warmup_steps))


@torch.no_grad()
def predict(model: nn.Module, sequences: Sequence[list[int]], pad_id: int, batch_size: int = 128) -> np.ndarray:
    """Probability of `positive` per sequence; batches are formed by length to keep padding small."""
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    result = np.zeros(len(sequences), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        ids, mask = pad_batch([sequences[i] for i in index], pad_id)
        result[index] = torch.softmax(model.logits(ids, mask), dim=-1)[:, 1].numpy()
    return result


def fit(
    model: nn.Module,
    train: list[Tweet],
    validation: list[Tweet],
    tokenizer: Tokenizer,
    pad_id: int,
    config: LoopConfig,
    log_epoch: Callable[[dict[str, float], int], None],
) -> tuple[nn.Module, dict[str, float]]:
    """Train with AdamW, evaluate on validation after each epoch, keep the best weights."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    train_ids, train_labels = encode(tokenizer, [t.text for t in train]), torch.tensor([t.label for t in train])
    val_ids, val_labels = encode(tokenizer, [t.text for t in validation]), np.array([t.label for t in validation])

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    batches_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    warmup_steps = int(total_steps * config.warmup_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, warmup_steps, total_steps))
    loss_fn = nn.CrossEntropyLoss()
    best_auc, best_state, best_epoch, stale = -1.0, copy.deepcopy(model.state_dict()), 0, 0

    for epoch in range(1, config.epochs + 1):
        model.train()
        started, running_loss = time.monotonic(), 0.0
        permutation = torch.randperm(len(train_ids), generator=generator).tolist()
        for batch_number, start in enumerate(range(0, len(permutation), config.batch_size), start=1):
            index = permutation[start : start + config.batch_size]
            ids, mask = pad_batch([train_ids[i] for i in index], pad_id)
            loss = loss_fn(model.logits(ids, mask), train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running_loss += loss.item()
            if batch_number % 50 == 0 or batch_number == batches_per_epoch:
                elapsed = time.monotonic() - started
                eta = elapsed / batch_number * (batches_per_epoch - batch_number)
                print(
                    f"  epoch {epoch}/{config.epochs} batch {batch_number}/{batches_per_epoch} "
                    f"loss {running_loss / batch_number:.4f} ({elapsed:.0f}s, eta {eta:.0f}s)",
                    flush=True,
                )

        p_val = predict(model, val_ids, pad_id)
        val_auc = float(roc_auc_score(val_labels, p_val))
        val_loss = float(-np.mean(val_labels * np.log(p_val + 1e-9) + (1 - val_labels) * np.log(1 - p_val + 1e-9)))
        val_accuracy = float(np.mean((p_val >= 0.5) == val_labels))
        # "epoch_" names keep the curves apart from the final scores of the kept weights.
        metrics = {
            "epoch_train_loss": running_loss / batches_per_epoch,
            "epoch_val_loss": val_loss,
            "epoch_val_roc_auc": val_auc,
            "epoch_val_accuracy": val_accuracy,
        }
        log_epoch(metrics, epoch)
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        if val_auc > best_auc:
            best_auc, best_state, best_epoch, stale = val_auc, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            stale += 1
            if stale >= config.patience:
                print(f"early stop: no better validation ROC-AUC for {stale} epochs", flush=True)
                break

    model.load_state_dict(best_state)
    model.eval()
    return model, {"best_epoch": best_epoch, "best_val_roc_auc": best_auc}
