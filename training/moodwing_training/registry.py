"""The team's model registry holds the served bundles, and the deployed bundle is always a
registered version's.

    python -m moodwing_training.registry seed    # register the committed bundles it does not hold
    python -m moodwing_training.registry check   # each committed bundle is the version it names

A bundle (`bundle.py`) is logged into its version's run under `bundle/`, and the version's tag
`bundle.model_json_sha256` names its `model.json`, which names every other file by sha256: a bundle
fetched back is checked whole (`fetch`). A committed bundle names its version by the run it came
from (`model.json`'s `mlflow.run_id`): the version's own run, or, for a bundle registered by
`seed`, the run recorded in its tag `original_run_id`.
"""

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from . import report, tracking
from .bundle import BUNDLE_PATH, MODEL_JSON_SHA256, BundleError, log_bundle, sha256_of, validate
from .tracking import RegistryError, aliases_of

ORIGINAL_RUN_ID = "original_run_id"
MODELS_DIR = report.BUNDLES  # the committed bundles


def find_version(card: dict) -> ModelVersion | None:
    """The registered version a bundle's model.json names, if the registry holds it."""
    run_id = card["mlflow"]["run_id"]
    matches = [
        version
        for version in MlflowClient().search_model_versions(f"name = '{card['name']}'")
        if run_id in (version.run_id, version.tags.get(ORIGINAL_RUN_ID)) and MODEL_JSON_SHA256 in version.tags
    ]
    return max(matches, key=lambda version: int(version.version), default=None)


def fetch(name: str, alias: str | None, version: str | None, out: Path) -> tuple[ModelVersion, dict]:
    """Download a registered version's bundle, check it whole, then (only then) replace `out` with it."""
    model_version = tracking.resolve(name, alias, version)
    label = f"{name} v{model_version.version}"
    expected = model_version.tags.get(MODEL_JSON_SHA256)
    if expected is None:
        raise RegistryError(
            f"{label} has no bundle: build it with python -m moodwing_training.bundle --model {name} "
            f"--version {model_version.version} --out DIR"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        fetched = Path(
            mlflow.artifacts.download_artifacts(run_id=model_version.run_id, artifact_path=BUNDLE_PATH, dst_path=tmp)
        )
        if not (fetched / "model.json").is_file() or sha256_of(fetched / "model.json") != expected:
            raise RegistryError(f"{label}: its bundle's model.json is not the one registered with it")
        try:
            card = validate(fetched)
        except BundleError as error:
            raise RegistryError(f"{label}: its files do not match its model.json ({error})") from None
        if card["name"] != name:
            raise RegistryError(f"{label}: its bundle is {card['name']}'s")
        staged = Path(tmp) / "staged"
        fetched.rename(staged)
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    return model_version, card


def _metrics_of(card: dict) -> dict[str, float]:
    """A bundle's figures as MLflow metrics: every reported set, fp32 and int8, and what selection reads."""
    metrics = {
        f"{precision}_{set_name}_{key}": float(value)
        for precision in ("fp32", "int8")
        for set_name, scores in card["metrics"][precision].items()
        for key, value in scores.items()
    }
    metrics["threshold"] = card["threshold"]
    metrics[tracking.SELECTION_METRIC] = card["metrics"]["fp32"]["validation"]["roc_auc"]
    return metrics


def register(folder: Path) -> ModelVersion:
    """Register a committed bundle as a new version of its model, in a run of its own."""
    card = validate(folder)
    client = MlflowClient()
    if aliases_of(card["name"]) is None:
        client.create_registered_model(card["name"], description=f"The served {card['approach']} model (edge bundle).")
    tracking.configure()
    with mlflow.start_run(run_name=f"{card['name']} v{card['version']} (committed bundle)") as run:
        mlflow.set_tags(
            {
                "approach": card["approach"],
                "source": "committed bundle",
                "bundle_version": card["version"],
                ORIGINAL_RUN_ID: card["mlflow"]["run_id"],
            }
        )
        mlflow.log_params(
            {
                "max_length": card["max_length"],
                "temperature": card["calibration"]["temperature"],
                "normalization_version": card["normalization_version"],
                "table_bits": card["quantization"].get("table_bits", 8),
                "vocabulary_pieces": card["vocabulary"]["pieces"],
            }
        )
        mlflow.log_metrics(_metrics_of(card))
        mlflow.log_dict(card["data"], "data/split_manifest.json")
        mlflow.log_artifact(str(folder / "tokenizer.json"), "tokenizer")
        version = client.create_model_version(
            card["name"],
            source=f"{run.info.artifact_uri}/{BUNDLE_PATH}",
            run_id=run.info.run_id,
            tags={ORIGINAL_RUN_ID: card["mlflow"]["run_id"], "bundle_version": card["version"]},
            description=f"{card['name']} v{card['version']} as committed in edge-model/models/{folder.name}/",
        )
        log_bundle(folder, version)
    return client.get_model_version(card["name"], version.version)


def committed(models_dir: Path) -> list[tuple[Path, dict]]:
    """The committed bundles' folders and model.json, each checked against its contract."""
    return [(folder, validate(folder)) for folder in sorted(path.parent for path in models_dir.glob("*/model.json"))]


def seed(models_dir: Path = MODELS_DIR) -> list[str]:
    """Register every committed bundle the registry does not hold; `champion` where a model has none."""
    tracking.configure()
    client = MlflowClient()
    said = []
    for folder, card in committed(models_dir):
        known = find_version(card)
        if known is None:
            known = register(folder)
            said.append(f"{card['name']}: registered edge-model/models/{folder.name} as v{known.version}")
        if tracking.CHAMPION not in (aliases_of(card["name"]) or {}):
            client.set_registered_model_alias(card["name"], tracking.CHAMPION, known.version)
            said.append(f"{card['name']}@{tracking.CHAMPION} -> v{known.version}")
    return said


def check(models_dir: Path = MODELS_DIR) -> list[str]:
    """Each committed bundle matches its model.json and is, byte for byte, the registry version it names."""
    tracking.configure()
    said = []
    for folder, card in committed(models_dir):
        version = find_version(card)
        if version is None:
            raise RegistryError(
                f"edge-model/models/{folder.name}: {card['name']} from run {card['mlflow']['run_id']} "
                "is not in the registry"
            )
        if sha256_of(folder / "model.json") != version.tags[MODEL_JSON_SHA256]:
            raise RegistryError(
                f"edge-model/models/{folder.name}: its model.json is not {card['name']} v{version.version}'s "
                "in the registry (release it again: python -m moodwing_training.release)"
            )
        said.append(f"edge-model/models/{folder.name}: {card['name']} v{version.version} of the registry")
    return said


def describe(error: Exception) -> str:
    """One line for a person: what failed talking to the registry."""
    text = str(error)
    uri = mlflow.get_tracking_uri()
    if "Connection refused" in text or "Max retries exceeded" in text or "Name or service not known" in text:
        return f"cannot reach the tracking server at {uri}"
    if "401" in text or "not authenticated" in text.lower():
        credentials = "MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD"
        return f"the tracking server at {uri} refused the credentials ({credentials})"
    if "403" in text or "permission" in text.lower():
        return f"the tracking server at {uri} does not let these credentials do that"
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def run_cli(job: Callable[[], list[str]], program: str, expected: tuple[type[Exception], ...] = ()) -> None:
    """Run a registry job for a person: a short wait on an unreachable server, one line on failure
    (for the registry's errors, the bundle's, and the `expected` ones)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    try:
        for line in job():
            print(line, flush=True)
    except (RegistryError, BundleError, *expected) as error:
        sys.exit(f"{program}: {error}")
    except (MlflowException, OSError) as error:
        sys.exit(f"{program}: {describe(error)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("seed", "check"))
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="the committed bundles' folder")
    args = parser.parse_args(argv)
    job = seed if args.command == "seed" else check
    run_cli(lambda: job(args.models), f"registry {args.command}")


if __name__ == "__main__":
    main()
