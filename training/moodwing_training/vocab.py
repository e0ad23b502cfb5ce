"""Prune a bundle's WordPiece vocabulary to the pieces our tweets use.

MiniLM's 30,522 pieces cover scripts and words our tweets never show; in a pre-initialized edge
component every piece costs an embedding row and tokenizer tables. The served bundle keeps:
- the pieces the training texts (labelled train split and unlabelled tweets) use at least
  `min_count` times once tokenized;
- every single-character piece (`x` and `##x`), so a word still splits instead of becoming [UNK];
- the special tokens.

Pieces keep their order and are renumbered; the graph's embedding table keeps the matching rows.
WordPiece takes the longest piece that matches, so a word whose pieces are all kept is tokenized
exactly as before; a rarer word falls back to shorter pieces. The bundle's metrics are those of the
pruned model, so what this costs is measured on every reported set.
"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import numpy_helper
from tokenizers import Tokenizer

from .neural import encode

MIN_COUNT = 2  # a piece seen once in 170 k tweets is noise; 3 % of validation tweets then change ids


class VocabularyError(ValueError):
    """The tokenizer or the graph is not the shape this pruning understands."""


@dataclass(frozen=True)
class Pruned:
    tokenizer: Tokenizer
    model: onnx.ModelProto
    summary: dict


def kept_ids(tokenizer: Tokenizer, texts: Sequence[str], min_count: int = MIN_COUNT) -> list[int]:
    """Old ids of the pieces to keep, ascending."""
    counts = Counter(i for ids in encode(tokenizer, texts) for i in ids)
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    single_characters = {i for piece, i in vocab.items() if len(piece.removeprefix("##")) == 1}
    special = set(tokenizer.get_added_tokens_decoder())
    used = {i for i, count in counts.items() if count >= min_count}
    return sorted(used | single_characters | special)


def prune_tokenizer(tokenizer: Tokenizer, kept: Sequence[int]) -> Tokenizer:
    """The same tokenizer over the kept pieces only, renumbered in their old order."""
    spec = json.loads(tokenizer.to_str())
    if spec["model"].get("type") != "WordPiece":
        raise VocabularyError(f"only WordPiece vocabularies are pruned, not {spec['model'].get('type')}")
    piece_of = {i: piece for piece, i in spec["model"]["vocab"].items()}
    new_id = {piece_of[old]: new for new, old in enumerate(kept)}
    spec["model"]["vocab"] = new_id
    for token in spec["added_tokens"]:
        token["id"] = new_id[token["content"]]
    for special in (spec.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [new_id[token] for token in special["tokens"]]
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_token"]]
    return Tokenizer.from_str(json.dumps(spec))


def prune_embedding(model: onnx.ModelProto, kept: Sequence[int], vocabulary_size: int) -> str:
    """Keep the rows of the table that `input_ids` index; returns the table's name."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    # Shape only reads the ids' shape, which pruning keeps; anything else would see the new ids.
    readers = [node for node in model.graph.node if "input_ids" in node.input and node.op_type != "Shape"]
    if (
        len(readers) != 1
        or readers[0].op_type != "Gather"
        or list(readers[0].input) != [readers[0].input[0], "input_ids"]
    ):
        raise VocabularyError("input_ids must be read by exactly one Gather, as its indices")
    table = initializers.get(readers[0].input[0])
    if table is None or table.dims[0] != vocabulary_size:
        raise VocabularyError(f"the Gather's table is not a constant of {vocabulary_size} rows")
    rows = numpy_helper.to_array(table)[list(kept)]
    table.CopyFrom(numpy_helper.from_array(rows, table.name))
    return table.name


def prune(tokenizer: Tokenizer, model: onnx.ModelProto, texts: Sequence[str], min_count: int = MIN_COUNT) -> Pruned:
    """A pruned copy of the tokenizer and the fp32 graph (the graph given is not changed)."""
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    kept = kept_ids(tokenizer, texts, min_count)
    pruned_model = onnx.ModelProto()
    pruned_model.CopyFrom(model)
    table = prune_embedding(pruned_model, kept, size)
    summary = {
        "pieces": len(kept),
        "pieces_before": size,
        "min_count": min_count,
        "counted_on_texts": len(texts),
        "table": table,
    }
    return Pruned(prune_tokenizer(tokenizer, kept), pruned_model, summary)
