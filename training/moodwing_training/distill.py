"""Distillation: the fine-tuned MiniLM teaches the BiLSTM student on every tweet we may train on.

The student learns from the teacher's (calibrated) probabilities on the labelled training tweets
and on the unlabelled ones (CrowdFlower's neutral tweets, the other TweetEval tasks); where a human
label exists, the target mixes it with the teacher's: `alpha * teacher + (1 - alpha) * label`,
except on the improvement loop's feedback tweets, learnt as people labelled them.

The teacher's probabilities are computed once per teacher version and set of texts, and cached as
an artifact of the teacher's MLflow run (`soft_labels/<hash>.npy`); the student's run records the
teacher's run id and the artifact it used.
"""

import hashlib
import json
import time
from pathlib import Path

import mlflow
import numpy as np
import onnxruntime as ort
from mlflow import MlflowClient
from tokenizers import Tokenizer

from . import neural, tracking
from .corpus import Corpus
from .onnx_export import OUTPUT_NAME

DEFAULT_TEACHER = f"moodwing-bert@{tracking.CHAMPION}"
FEEDBACK_SOURCE = "feedback"  # `Tweet.source` of the improvement loop's tweets
BATCH = 64


def texts_key(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()[:16]


def teacher_probabilities(teacher: str, texts: list[str], workdir: Path) -> tuple[np.ndarray, dict]:
    """P(negative), P(positive) of `teacher` ("name@alias" or "name/version") for each text, from the
    teacher run's cache when it holds them, else computed with onnxruntime and cached there."""
    tracking.configure()
    name, _, ref = teacher.replace("/", "@").partition("@")
    version = tracking.resolve(name, alias=ref if not ref.isdigit() else None, version=ref if ref.isdigit() else None)
    run_id = version.run_id
    artifact = f"soft_labels/{texts_key(texts)}.npy"
    info = {"teacher_model": f"{name}/{version.version}", "teacher_run_id": run_id, "soft_labels_artifact": artifact}
    client = MlflowClient()
    if any(a.path == artifact for a in client.list_artifacts(run_id, "soft_labels")):
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact, dst_path=str(workdir))
        print(f"teacher probabilities: cached in run {run_id[:8]} ({artifact})", flush=True)
        return np.load(path), info

    model_dir = Path(
        mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}", dst_path=str(workdir / "teacher"))
    )
    tokenizer_path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="tokenizer/tokenizer.json", dst_path=str(workdir / "teacher")
    )
    probabilities = run_teacher(model_dir / "model.onnx", Tokenizer.from_file(tokenizer_path), texts)
    path = workdir / Path(artifact).name
    np.save(path, probabilities)
    client.log_artifact(run_id, str(path), "soft_labels")
    return probabilities, info


def run_teacher(model_path: Path, tokenizer: Tokenizer, texts: list[str]) -> np.ndarray:
    """The teacher's probabilities, in length-sorted padded batches (its graph masks the padding)."""
    options = ort.SessionOptions()
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    ids = neural.encode(tokenizer, texts)
    pad_id = tokenizer.token_to_id("[PAD]")
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    result = np.zeros((len(ids), 2), dtype=np.float32)
    started = time.monotonic()
    for number, start in enumerate(range(0, len(order), BATCH), start=1):
        index = order[start : start + BATCH]
        input_ids, mask = neural.pad_batch([ids[i] for i in index], pad_id)
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()}
        result[index] = session.run([OUTPUT_NAME], feeds)[0]
        if number % 200 == 0 or start + BATCH >= len(order):
            done = min(start + BATCH, len(order))
            elapsed = time.monotonic() - started
            eta = elapsed / done * (len(order) - done)
            print(f"  teacher: {done}/{len(order)} tweets ({elapsed:.0f}s, eta {eta:.0f}s)", flush=True)
    return result


def student_targets(corpus: Corpus, teacher: str, alpha: float, workdir: Path) -> tuple[list[str], np.ndarray, dict]:
    """Texts and target distributions of the student: the labelled training tweets, then the unlabelled ones."""
    labelled = corpus.parts["train"]
    texts = [t.text for t in labelled] + corpus.unlabelled
    soft, info = teacher_probabilities(teacher, texts, workdir)
    hard = neural.one_hot([t.label for t in labelled])
    targets = soft.astype(np.float64)
    targets[: len(labelled)] = alpha * targets[: len(labelled)] + (1 - alpha) * hard
    # A person's correction of a prediction is the point of a feedback tweet: the teacher may share
    # the student's mistake there, so it is learnt as labelled.
    from_feedback = np.array([t.source == FEEDBACK_SOURCE for t in labelled], dtype=bool)
    targets[: len(labelled)][from_feedback] = hard[from_feedback]
    agreement = float(np.mean(soft[: len(labelled)].argmax(1) == hard.argmax(1)))
    print(f"teacher agrees with the human label on {agreement:.1%} of the labelled training tweets", flush=True)
    extra = {
        **{f"distill.{k}": v for k, v in info.items()},
        "distill.alpha": alpha,
        "distill.labelled": len(labelled),
        "distill.unlabelled": len(corpus.unlabelled),
        "distill.teacher_train_agreement": agreement,
        "distill.unlabelled_positive_share": float(soft[len(labelled) :, 1].mean()) if corpus.unlabelled else 0.0,
    }
    return texts, targets, extra
