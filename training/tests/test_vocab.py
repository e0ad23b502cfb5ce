"""Vocabulary pruning: same pieces for the words it was counted on, same embedding rows, no [UNK]."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from moodwing_training import bert, vocab
from moodwing_training.neural import encode


@pytest.fixture(scope="module")
def tokenizer():
    return bert.load_tokenizer(bert.pretrained_path(), max_length=64)


@pytest.fixture(scope="module")
def texts(corpus) -> list[str]:
    return [t.text for t in corpus[:500]]


def embedding_graph(rows: np.ndarray) -> onnx.ModelProto:
    """input_ids -> Gather(table) -> embeddings, the shape the exported models start with."""
    gather = helper.make_node("Gather", ["table", "input_ids"], ["embeddings"])
    graph = helper.make_graph(
        [gather],
        "embedding",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [1, None, rows.shape[1]])],
        [numpy_helper.from_array(rows, "table")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def pieces(tokenizer, texts: list[str]) -> list[list[str]]:
    return [[tokenizer.id_to_token(i) for i in ids] for ids in encode(tokenizer, texts)]


def test_pruned_tokenizer_splits_counted_texts_into_the_same_pieces(tokenizer, texts) -> None:
    kept = vocab.kept_ids(tokenizer, texts, min_count=1)
    pruned = vocab.prune_tokenizer(tokenizer, kept)
    assert pruned.get_vocab_size() == len(kept) < tokenizer.get_vocab_size() / 2
    assert pieces(pruned, texts) == pieces(tokenizer, texts)
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
        assert pruned.token_to_id(special) is not None
    # The template's [CLS] and [SEP] point at the renumbered ids.
    ids = encode(pruned, ["hello"])[0]
    assert ids[0] == pruned.token_to_id("[CLS]") and ids[-1] == pruned.token_to_id("[SEP]")


def test_a_word_made_of_dropped_pieces_still_splits_without_unk(tokenizer) -> None:
    kept = vocab.kept_ids(tokenizer, ["the cat sat on the mat"], min_count=1)
    pruned = vocab.prune_tokenizer(tokenizer, kept)
    [split] = pieces(pruned, ["turbulence"])
    assert "[UNK]" not in split and "".join(p.removeprefix("##") for p in split[1:-1]) == "turbulence"
    assert len(split) > len(pieces(tokenizer, ["turbulence"])[0])


def test_pruned_graph_gives_each_piece_its_old_row(tokenizer, texts) -> None:
    size = tokenizer.get_vocab_size()
    rows = np.random.default_rng(0).normal(size=(size, 4)).astype(np.float32)
    pruned = vocab.prune(tokenizer, embedding_graph(rows), texts, min_count=1)
    assert pruned.summary["pieces"] == pruned.tokenizer.get_vocab_size()
    old_ids = np.array([encode(tokenizer, texts[:1])[0]])
    new_ids = np.array([encode(pruned.tokenizer, texts[:1])[0]])
    run = lambda model, ids: ort.InferenceSession(model.SerializeToString()).run(None, {"input_ids": ids})[0]  # noqa: E731
    np.testing.assert_array_equal(run(pruned.model, new_ids), run(embedding_graph(rows), old_ids))


def test_a_graph_that_reads_the_ids_elsewhere_is_refused(tokenizer) -> None:
    model = embedding_graph(np.zeros((tokenizer.get_vocab_size(), 2), np.float32))
    model.graph.node.append(helper.make_node("Shape", ["input_ids"], ["shape"]))  # the shape is fine
    vocab.prune(tokenizer, model, ["hello"])
    model.graph.node.append(helper.make_node("Cast", ["input_ids"], ["as_float"], to=TensorProto.FLOAT))
    with pytest.raises(vocab.VocabularyError):
        vocab.prune(tokenizer, model, ["hello"])
