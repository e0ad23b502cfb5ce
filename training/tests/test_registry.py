"""The team's registry against a real tracking server, started as it is deployed
(`infra/mlflow/serve.sh`, the `server` fixture): runs and registered models in PostgreSQL, artifacts
proxied by the server to Azure Blob Storage (Azurite), MLflow's basic-auth app in front. A second
process that has only the server's address and credentials sees what the first registered, and the
served bundles go in and come back byte for byte.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from conftest import ROOT, free_port
from mlflow import MlflowClient

from moodwing_training import registry, release, tracking, train
from moodwing_training.bundle import BundleError


def digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


SECOND_CLIENT = """
import hashlib, json, sys
from pathlib import Path
import mlflow
from mlflow import MlflowClient
client = MlflowClient()
experiment = client.get_experiment_by_name("moodwing-sentiment")
runs = client.search_runs([experiment.experiment_id])
champion = client.get_model_version_by_alias("moodwing-tfidf", "champion")
folder = Path(mlflow.artifacts.download_artifacts("models:/moodwing-tfidf@champion", dst_path=sys.argv[1]))
files = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
         for p in sorted(folder.rglob("*")) if p.is_file()}
runs = {r.info.run_id: r.data.metrics.get("val_roc_auc") for r in runs}
print(json.dumps({"runs": runs, "champion": champion.version, "files": files}))
"""


def test_a_second_process_sees_the_runs_and_downloads_the_same_champion(as_client, tmp_path) -> None:
    registered = train.train_and_register("tfidf", train.Options(tweeteval=None, sample=1500, teacher=None))
    assert registered.champion
    artifact_uri = MlflowClient().get_run(registered.run_id).info.artifact_uri
    assert artifact_uri.startswith("mlflow-artifacts:/"), artifact_uri  # proxied by the server
    champion_uri = f"models:/moodwing-tfidf@{tracking.CHAMPION}"
    mine = Path(mlflow.artifacts.download_artifacts(champion_uri, dst_path=str(tmp_path / "a")))
    second = subprocess.run(
        [sys.executable, "-c", SECOND_CLIENT, str(tmp_path / "b")],
        env=as_client.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr
    seen = json.loads(second.stdout.strip().splitlines()[-1])
    assert seen["runs"][registered.run_id] == pytest.approx(registered.scores["val_roc_auc"])
    assert seen["champion"] == registered.version
    assert seen["files"] == digests(mine)
    assert "MLmodel" in seen["files"]


def test_the_committed_bundles_are_registered_released_byte_for_byte_and_checked(as_client, tmp_path) -> None:
    said = registry.seed()
    assert f"moodwing-lstm@{tracking.CHAMPION} -> v1" in said and f"moodwing-bert@{tracking.CHAMPION} -> v1" in said
    assert registry.seed() == []  # nothing twice
    champion = MlflowClient().get_model_version_by_alias("moodwing-lstm", tracking.CHAMPION)
    run = MlflowClient().get_run(champion.run_id)
    committed = json.loads((registry.MODELS_DIR / "lstm" / "model.json").read_text())
    assert run.data.tags[registry.ORIGINAL_RUN_ID] == committed["mlflow"]["run_id"]
    external = committed["metrics"]["int8"]["tweeteval_sentiment"]
    assert run.data.metrics["int8_tweeteval_sentiment_roc_auc"] == external["roc_auc"]

    for approach in ("lstm", "bert"):
        said = release.release(f"moodwing-{approach}", tracking.CHAMPION, None, tmp_path / approach)
        assert said[0].startswith(f"moodwing-{approach} v1 ")
        assert digests(tmp_path / approach) == digests(registry.MODELS_DIR / approach)
    assert len(registry.check()) == 2
    if screenshot := os.environ.get("MOODWING_REGISTRY_SCREENSHOT"):
        tool = ROOT / "docs" / "tools" / "registry-screenshot.mjs"
        subprocess.run(
            ["node", str(tool), as_client.uri, as_client.username, as_client.password, screenshot], check=True
        )

    # A committed bundle that is not the registry's is caught, whichever file differs.
    changed = tmp_path / "models"
    shutil.copytree(registry.MODELS_DIR / "lstm", changed / "lstm")
    card = json.loads((changed / "lstm" / "model.json").read_text())
    redated = card | {"created": "2026-01-01T00:00:00Z"}
    (changed / "lstm" / "model.json").write_text(json.dumps(redated, indent=2) + "\n")
    with pytest.raises(registry.RegistryError, match="is not moodwing-lstm v1's in the registry"):
        registry.check(changed)
    (changed / "lstm" / "model.json").write_text(json.dumps(card | {"mlflow": card["mlflow"] | {"run_id": "0" * 32}}))
    with pytest.raises(registry.RegistryError, match="is not in the registry"):
        registry.check(changed)
    shutil.copy(registry.MODELS_DIR / "lstm" / "model.json", changed / "lstm" / "model.json")
    with (changed / "lstm" / "golden.jsonl").open("a") as golden:
        golden.write("\n")
    with pytest.raises(BundleError, match="sha256 differs"):
        registry.check(changed)


def test_release_refuses_with_one_line_and_changes_nothing(as_client, tmp_path) -> None:
    registry.seed()
    out = tmp_path / "lstm"
    out.mkdir()
    (out / "kept.txt").write_text("untouched")

    with pytest.raises(registry.RegistryError, match="has no moodwing-lstm alias @canary"):
        release.release("moodwing-lstm", "canary", None, out)

    # A version whose bundle's files are not the ones its model.json names.
    tampered_source = tmp_path / "tampered"
    shutil.copytree(registry.MODELS_DIR / "lstm", tampered_source)
    version = registry.register(tampered_source)
    (tampered_source / "golden.jsonl").write_text('{"text": "not the golden tweets"}\n')
    MlflowClient().log_artifact(version.run_id, str(tampered_source / "golden.jsonl"), "bundle")
    with pytest.raises(registry.RegistryError, match=f"v{version.version}: its files do not match its model.json"):
        release.release("moodwing-lstm", None, version.version, out)
    assert [p.name for p in out.iterdir()] == ["kept.txt"]

    cli = [sys.executable, "-m", "moodwing_training.release", "--model", "moodwing-lstm", "--out", str(out)]
    closed = f"http://127.0.0.1:{free_port()}"
    for env, expected in (
        (as_client.env(MLFLOW_TRACKING_URI=closed), f"release: cannot reach the tracking server at {closed}"),
        (as_client.env(MLFLOW_TRACKING_PASSWORD="wrong"), "release: the tracking server at"),
    ):
        started = time.monotonic()
        answer = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
        assert answer.returncode == 1, answer
        assert answer.stderr.strip().splitlines() == [answer.stderr.strip()], answer.stderr  # one line
        assert answer.stderr.startswith(expected), answer.stderr
        assert time.monotonic() - started < 60
    assert "refused the credentials" in answer.stderr
    assert [p.name for p in out.iterdir()] == ["kept.txt"]


def test_the_server_image_runs_the_training_environments_mlflow() -> None:
    """The deployed server (infra/mlflow) and every client speak the same MLflow, with the same drivers."""
    lock = dict(line.split("==") for line in (ROOT / "training" / "requirements.lock").read_text().split())
    image = dict(
        line.split("==")
        for line in (ROOT / "infra" / "mlflow" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for package, version in image.items():
        if package != "azure-identity":  # the server's managed identity only; no client needs it
            assert lock[package.removesuffix("[binary]")] == version, package
