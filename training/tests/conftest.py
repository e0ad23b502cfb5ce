import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

import pytest

from moodwing_training import data, train, tweeteval


@pytest.fixture(scope="session")
def corpus() -> list[data.Tweet]:
    return data.load_crowdflower_corpus()


def write_task(folder: Path, task: str, split: str, rows: list[tuple[str, int | None]]) -> None:
    """One split of a task in TweetEval's layout: `<split>_text.txt`, and `<split>_labels.txt` when labelled."""
    (folder / task).mkdir(parents=True, exist_ok=True)
    (folder / task / f"{split}_text.txt").write_text("".join(f"{text}\n" for text, _ in rows), encoding="utf-8")
    if rows and rows[0][1] is not None:
        (folder / task / f"{split}_labels.txt").write_text("".join(f"{label}\n" for _, label in rows))


@pytest.fixture(scope="session")
def write_tweeteval_task():
    return write_task


@pytest.fixture(scope="session")
def tweeteval_dir(tmp_path_factory, corpus) -> Path:
    """A small folder in TweetEval's format, written from CrowdFlower tweets (TweetEval's own tweets
    stay in ../shared and never enter the repository)."""
    folder = tmp_path_factory.mktemp("tweeteval")
    negatives = [t.text.replace("\n", " ") for t in corpus if t.label == 0][:600]
    positives = [t.text.replace("\n", " ") for t in corpus if t.label == 1][:600]
    sentiment = [(t, 0) for t in negatives[:40]] + [(t, 2) for t in positives[:40]] + [("a neutral line", 1)]
    write_task(folder, "sentiment", "val", sentiment)
    for split, (start, stop) in {"train": (40, 240), "val": (240, 300), "test": (300, 360)}.items():
        # anger (0) and sadness (3) are negative, joy (1) and optimism (2) positive
        rows = [(t, 0 if i % 2 else 3) for i, t in enumerate(negatives[start:stop])]
        rows += [(t, 1 if i % 2 else 2) for i, t in enumerate(positives[start:stop])]
        write_task(folder, "emotion", split, rows)
    for task in tweeteval.UNLABELLED_TASKS:
        for split in tweeteval.SPLITS:
            write_task(folder, task, split, [(t, 0) for t in negatives[360:380] + positives[360:380]])
    return folder


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
def bert_run(mlflow_store, tweeteval_dir) -> dict[str, float]:
    return train.run("bert", train.Options(tweeteval=tweeteval_dir, sample=200))


@pytest.fixture(scope="session")
def lstm_run(bert_run, tweeteval_dir) -> dict[str, float]:
    """The student, distilled from the sample teacher above."""
    return train.run("lstm", train.Options(tweeteval=tweeteval_dir, sample=400))


ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "infra" / "mlflow" / "serve.sh"
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-blob"
CONTAINER = "mlflow"


@dataclass(frozen=True)
class Server:
    uri: str
    username: str
    password: str

    def env(self, **changes: str) -> dict[str, str]:
        """A second process's whole environment: the server's address and credentials, nothing else of ours."""
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        return env | changes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def postgres_url(database: str) -> str:
    """`MOODWING_TEST_POSTGRES` (libpq keywords, as test.sh exports it) as a SQLAlchemy URL."""
    fields = dict(part.split("=", 1) for part in os.environ["MOODWING_TEST_POSTGRES"].split())
    auth = fields["user"] + (f":{fields['password']}" if "password" in fields else "")
    return f"postgresql://{auth}@{fields['host']}:{fields.get('port', '5432')}/{database}?sslmode=disable"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    """A tracking server of the module's own, started as deployed (`infra/mlflow/serve.sh`), on the
    PostgreSQL server of `MOODWING_TEST_POSTGRES` (two throw-away databases) and Azurite."""
    missing = [
        why
        for why, absent in (
            ("MOODWING_TEST_POSTGRES is not set", "MOODWING_TEST_POSTGRES" not in os.environ),
            (f"{AZURITE} is missing (npm ci)", not AZURITE.exists()),
        )
        if absent
    ]
    if missing:
        if os.environ.get("MOODWING_TEST_POSTGRES_REQUIRED"):
            pytest.fail("; ".join(missing))
        pytest.skip("; ".join(missing))
    import psycopg
    from azure.storage.blob import BlobServiceClient

    suffix = secrets.token_hex(4)
    databases = [f"mlflow_{suffix}", f"mlflow_auth_{suffix}"]
    admin = psycopg.connect(os.environ["MOODWING_TEST_POSTGRES"] + " dbname=postgres", autocommit=True)
    with admin.cursor() as cursor:
        for database in databases:
            cursor.execute(f"CREATE DATABASE {database}")

    # Azurite with an account of this run's own (no well-known key), over plain HTTP on loopback.
    account, key = "moodwingtest", b64encode(secrets.token_bytes(64)).decode()
    blob_port = free_port()
    folder = tmp_path_factory.mktemp("azurite")
    azurite = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(blob_port), "--location", str(folder),
         "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry"],
        env=os.environ | {"AZURITE_ACCOUNTS": f"{account}:{key}"},
    )  # fmt: skip
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{account};"
    )
    port, password = free_port(), secrets.token_urlsafe(18)
    process = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                BlobServiceClient.from_connection_string(connection).create_container(CONTAINER)
                break
            except Exception:
                if time.monotonic() > deadline or azurite.poll() is not None:
                    raise
                time.sleep(0.3)
        process = subprocess.Popen(
            ["sh", str(SERVE)],
            env=os.environ
            | {
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "MLFLOW_BACKEND_STORE_URI": postgres_url(databases[0]),
                "MLFLOW_AUTH_DATABASE_URI": postgres_url(databases[1]),
                "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
                "MLFLOW_ARTIFACTS_DESTINATION": f"wasbs://{CONTAINER}@{account}.blob.core.windows.net/artifacts",
                "AZURE_STORAGE_CONNECTION_STRING": connection,
                "MLFLOW_HOST": "127.0.0.1",
                "MLFLOW_PORT": str(port),
                "MLFLOW_WORKERS": "1",
                "MLFLOW_ALLOWED_HOSTS": f"127.0.0.1:{port}",
            },
        )
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
        yield Server(f"http://127.0.0.1:{port}", "admin", password)
    finally:
        for child in (process, azurite):
            if child is not None:
                child.terminate()
                child.wait(timeout=30)
        with admin.cursor() as cursor:
            for database in databases:
                cursor.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


def talk_to(server: Server, patch: pytest.MonkeyPatch) -> Server:
    """This process talks to the server as a team member does: through the environment."""
    for name, value in server.env().items():
        if name.startswith("MLFLOW_"):
            patch.setenv(name, value)
    patch.delenv("MOODWING_ARTIFACT_ROOT", raising=False)
    return server


@pytest.fixture
def as_client(server, monkeypatch) -> Server:
    return talk_to(server, monkeypatch)
