"""The scheduled improvement loop end to end, as its workflow runs it (`python -m moodwing_training.loop`):
a real cloud-api holding planted feedback, a real tracking server (the `server` fixture), a small BiLSTM
champion. Systematic errors end in a released bundle of the new version and a pull request body;
noise changes nothing.

Needs the cloud-api binary (`cargo build -p moodwing-cloud-api`; test.sh runs this file after the Rust
tests built it). The feedback is written here from CrowdFlower tweets; nothing of it is committed.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, free_port, talk_to, wait_until_up
from mlflow import MlflowClient

from moodwing_training import data, tracking, train

CLOUD_API = Path(os.environ.get("MOODWING_CLOUD_API_BIN", ROOT / "target" / "debug" / "moodwing-cloud-api"))
NAME = tracking.registered_name("lstm")
# A small student trained on labels only (no teacher), as champion and challengers alike.
TRAINING = ["--sample", "3000", "--teacher", "none", "--tweeteval", "none", "--weight", "4"]
OPTIONS = train.Options(tweeteval=None, sample=3000, teacher=None)


@pytest.fixture(scope="module")
def champion(server) -> str:
    if not CLOUD_API.is_file():
        if os.environ.get("MOODWING_TEST_POSTGRES_REQUIRED"):
            pytest.fail(f"{CLOUD_API} is missing (cargo build -p moodwing-cloud-api)")
        pytest.skip(f"{CLOUD_API} is missing (cargo build -p moodwing-cloud-api)")
    patch = pytest.MonkeyPatch()
    talk_to(server, patch)
    registered = train.train_and_register("lstm", OPTIONS)
    patch.undo()
    assert registered.champion
    return registered.version


def cloud_api(tmp_path: Path, token: str) -> tuple[subprocess.Popen, str]:
    """A cloud-api of its own (SQLite), taking unsigned feedback as in local development."""
    port = free_port()
    process = subprocess.Popen(
        [str(CLOUD_API)],
        env=os.environ
        | {
            "MOODWING_CLOUD_API_ADDR": f"127.0.0.1:{port}",
            "MOODWING_FEEDBACK_DB": str(tmp_path / "feedback.sqlite"),
            "MOODWING_ALLOW_UNSIGNED": "true",
            "MOODWING_OPERATOR_TOKEN": token,
            "MOODWING_RATE_PER_CLIENT_PER_MINUTE": "100000",
            "MOODWING_RATE_CLIENT_BURST": "100000",
        },
    )
    wait_until_up(f"http://127.0.0.1:{port}/api/health", process)
    return process, f"http://127.0.0.1:{port}/api"


def post_feedback(api: str, text: str, predicted: str, verdict: str, corrected: str | None = None) -> None:
    feedback = {
        "id": str(uuid.uuid4()),
        "verdict": verdict,
        "text": text,
        "predicted_label": predicted,
        "score": 0.9 if predicted == "positive" else 0.1,
        "model": {"name": NAME, "version": "1"},
    } | ({"corrected_label": corrected} if corrected else {})
    request = urllib.request.Request(
        f"{api}/feedback", json.dumps(feedback).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def run_loop(server, api: str, token: str, out: Path, body: Path, table_bits: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "moodwing_training.loop", "--feedback-api", api, "--approach", "lstm"]
    return subprocess.run(
        [*command, *TRAINING, "--table-bits", str(table_bits), "--out", str(out), "--body", str(body)],
        env=server.env(MOODWING_OPERATOR_TOKEN=token, HF_HUB_OFFLINE="1", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"),
        capture_output=True,
        text=True,
        timeout=1200,
    )


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def training_tweets(corpus) -> list[data.Tweet]:
    return [t for t in corpus if data.split_of(t, data.SplitConfig()) == "train"]


def test_systematic_errors_end_in_a_release_and_noise_changes_nothing(
    as_client, champion, training_tweets, tmp_path
) -> None:
    server = as_client
    token = "t" * 40
    rng = random.Random(3)
    # People complain with sarcastic praise tagged #stillwaiting; the champion reads it as praise.
    process, api = cloud_api(tmp_path, token)
    try:
        for tweet in rng.sample([t for t in training_tweets if t.label == 1], 160):
            post_feedback(api, f"{tweet.text} #stillwaiting", "positive", "rejection", "negative")
        for tweet in rng.sample(training_tweets, 60):
            post_feedback(api, tweet.text, data.LABELS[tweet.label], "validation")
        out, body = tmp_path / "models" / "lstm", tmp_path / "pr-body.md"
        # An embedding table of 2 bits loses more than the int8 budget: promoted, but never released.
        unreleasable = run_loop(server, api, token, out, body, table_bits=2)
        promoted = run_loop(server, api, token, out, body, table_bits=8)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert unreleasable.returncode == 1
    restored = "fails its contract (int8 loses"
    assert restored in unreleasable.stderr and f"{NAME}@champion is v{champion} again" in unreleasable.stderr
    assert unreleasable.stderr.strip().splitlines()[-1].startswith("loop: v")
    assert promoted.returncode == 0, promoted.stdout[-2000:] + promoted.stderr[-2000:]
    card = json.loads((out / "model.json").read_text())
    challenger = str(int(champion) + 2)  # the unreleasable one took the version before
    assert card["name"] == NAME and card["version"] == challenger
    assert MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION).version == challenger
    text = body.read_text()
    assert f"## {NAME}: v{champion} -> v{challenger}" in text and "**Challenger promoted.**" in text
    assert f"model.onnx  sha256 {card['sha256']['model.onnx']}" in text

    released = digests(out)
    (tmp_path / "noise").mkdir()
    process, api = cloud_api(tmp_path / "noise", token)
    try:
        for tweet in rng.sample(training_tweets, 220):
            said = rng.choice(data.LABELS)  # people clicking at random
            post_feedback(api, tweet.text, "positive" if said == "negative" else "negative", "rejection", said)
        body.unlink()
        kept = run_loop(server, api, token, out, body, table_bits=8)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert kept.returncode == 0, kept.stdout[-2000:] + kept.stderr[-2000:]
    assert f"{NAME}@champion stays v{challenger}" in kept.stdout
    assert not body.exists() and digests(out) == released
    assert MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION).version == challenger
