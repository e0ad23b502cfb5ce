"""What the neural approaches share: encoding with a `tokenizers` tokenizer, the training loop with
early stopping, batched prediction, masked pooling and temperature scaling.

The loop trains on target distributions, not only labels: a hard label is a one-hot target, a
teacher's probabilities a soft one (distillation), and the loss is the cross-entropy to the target.

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
    # Weigh the classes so each counts half: the training mix (70 % negative) is an artefact of how
    # the corpus was collected, not the share of negative tweets a customer will see.
    balance_classes: bool = True
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
def predict_logits(
    model: nn.Module, sequences: Sequence[list[int]], pad_id: int, batch_size: int = 128, progress: str = ""
) -> np.ndarray:
    """Logits `[n, 2]` per sequence; batches are formed by length to keep padding small."""
    model.eval()
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    result = np.zeros((len(sequences), 2), dtype=np.float64)
    started = time.monotonic()
    for number, start in enumerate(range(0, len(order), batch_size), start=1):
        index = order[start : start + batch_size]
        ids, mask = pad_batch([sequences[i] for i in index], pad_id)
        result[index] = model.logits(ids, mask).numpy()
        if progress and (number % 100 == 0 or start + batch_size >= len(order)):
            done = min(start + batch_size, len(order))
            print(f"  {progress}: {done}/{len(order)} tweets ({time.monotonic() - started:.0f}s)", flush=True)
    return result


def predict(model: nn.Module, sequences: Sequence[list[int]], pad_id: int, batch_size: int = 128) -> np.ndarray:
    """Probability of `positive` per sequence."""
    return softmax(predict_logits(model, sequences, pad_id, batch_size))[:, 1]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def one_hot(labels: Sequence[int]) -> np.ndarray:
    return np.eye(2)[np.asarray(labels, dtype=int)]


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-class weights that make both classes count the same (an unknown share in deployment)."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=2).astype(np.float64)
    return counts.sum() / (2 * np.maximum(counts, 1))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, balance_classes: bool = True) -> float:
    """The temperature T that minimises the (class-balanced) negative log-likelihood of softmax(logits / T)
    on held-out tweets (Guo et al. 2017). One parameter: the ranking, hence ROC-AUC, is unchanged."""
    margin = logits[:, 1] - logits[:, 0]
    sign = np.where(np.asarray(labels) == 1, 1.0, -1.0)
    weights = class_weights(labels)[labels] if balance_classes else np.ones(len(labels))
    temperatures = np.exp(np.linspace(np.log(0.2), np.log(10.0), 600))
    losses = [np.average(np.logaddexp(0.0, -sign * margin / t), weights=weights) for t in temperatures]
    return float(temperatures[int(np.argmin(losses))])


def fold_temperature(head: nn.Linear, temperature: float) -> None:
    """Divide the classifier head by T, so the exported graph outputs calibrated probabilities."""
    with torch.no_grad():
        head.weight /= temperature
        head.bias /= temperature


def fit(
    model: nn.Module,
    train_texts: Sequence[str],
    train_targets: np.ndarray,
    validation: list[Tweet],
    tokenizer: Tokenizer,
    pad_id: int,
    config: LoopConfig,
    log_epoch: Callable[[dict[str, float], int], None],
) -> tuple[nn.Module, dict[str, float]]:
    """Train with AdamW towards `train_targets` (`[n, 2]` probabilities: one-hot labels or a teacher's),
    evaluate on validation after each epoch, keep the best weights."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    train_ids = encode(tokenizer, train_texts)
    targets = torch.tensor(train_targets, dtype=torch.float32)
    weights = class_weights(train_targets.argmax(1)) if config.balance_classes else np.ones(2)
    class_weight = torch.tensor(weights, dtype=torch.float32)
    val_ids, val_labels = encode(tokenizer, [t.text for t in validation]), np.array([t.label for t in validation])

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    batches_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    warmup_steps = int(total_steps * config.warmup_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, warmup_steps, total_steps))
    best_auc, best_state, best_epoch, stale = -1.0, copy.deepcopy(model.state_dict()), 0, 0

    for epoch in range(1, config.epochs + 1):
        model.train()
        started, running_loss = time.monotonic(), 0.0
        permutation = torch.randperm(len(train_ids), generator=generator).tolist()
        for batch_number, start in enumerate(range(0, len(permutation), config.batch_size), start=1):
            index = permutation[start : start + config.batch_size]
            ids, mask = pad_batch([train_ids[i] for i in index], pad_id)
            log_p = torch.log_softmax(model.logits(ids, mask), dim=-1)
            loss = -(targets[index] * class_weight * log_p).sum(-1).mean()
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
