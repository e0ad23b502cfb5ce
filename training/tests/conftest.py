import pytest

from moodwing_training import data, train


@pytest.fixture(scope="session")
def corpus() -> list[data.Tweet]:
    return data.load_crowdflower_corpus()


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A throw-away MLflow store for the whole session; the real one is never touched."""
    root = tmp_path_factory.mktemp("mlflow")
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    patch.setenv("MOODWING_ARTIFACT_ROOT", (root / "artifacts").as_uri())
    yield root
    patch.undo()


@pytest.fixture(scope="session")
def lstm_run(mlflow_store) -> dict[str, float]:
    return train.run("lstm", sample=400)
