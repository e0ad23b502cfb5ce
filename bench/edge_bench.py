"""Edge inference benchmark: the same bundles and the same tweets through onnxruntime (Python),
native tract (`cargo bench`), and the WebAssembly component under `wasmtime serve`, in one run, as
ratios. The headline is the component as deployed: Spin gives every request a fresh instance, which
`--max-instance-reuse-count 1` reproduces; warm (instances reused) is the secondary figure.

    ~/.cache/moodwing/venv/bin/python bench/edge_bench.py [--seconds 5]

Needs the components built (scripts/build-components.sh) and wasmtime (scripts/test.sh installs it).
All traffic goes to 127.0.0.1 and every load loop is bounded in time.
"""

import argparse
import http.client
import json
import os
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from moodwing_training.onnx_export import OnnxClassifier

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"lstm": "/api", "bert": "/api/bert"}
DEPLOYED = "as deployed (fresh instance per request)"
WARM = "warm (instances reused)"
WASMTIME = Path(os.environ.get("WASMTIME", Path.home() / ".cache/moodwing/tools/bin/wasmtime"))


def golden_texts(model: str) -> list[str]:
    lines = (ROOT / "edge-model/models" / model / "golden.jsonl").read_text(encoding="ascii").splitlines()
    return [json.loads(line)["text"] for line in lines]


def summary(timings_ms: list[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(timings_ms, 50)), "p99": float(np.percentile(timings_ms, 99))}


def onnxruntime_figures(model: str, texts: list[str], exact: bool) -> dict[str, float]:
    bundle = ROOT / "edge-model/models" / model
    classifier = OnnxClassifier(bundle / "model.onnx", Tokenizer.from_file(str(bundle / "tokenizer.json")), exact=exact)
    classifier.predict(texts[:10])  # warm-up
    timings = []
    for text in texts:
        started = time.perf_counter()
        classifier.predict([text])
        timings.append((time.perf_counter() - started) * 1e3)
    return summary(timings)


def native_figures() -> dict[str, dict]:
    print("running cargo bench (native tract) ...", flush=True)
    output = subprocess.run(
        ["cargo", "bench", "-q", "-p", "moodwing-edge-model", "--bench", "inference"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {row["bundle"]: row for row in rows}


class Host:
    """One component under `wasmtime serve` on a free loopback port."""

    def __init__(self, model: str, reuse: bool):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # The deployed component, bridged to wasmtime's configuration, signing as in production.
        component = ROOT / "target/components/local" / f"sentiment-{model}.wasm"
        reuse_count = "1000000" if reuse else "1"
        self.process = subprocess.Popen(
            [
                str(WASMTIME),
                "serve",
                "--addr",
                f"127.0.0.1:{self.port}",
                "-S",
                "cli=y",
                "--max-instance-reuse-count",
                reuse_count,
                "-S",
                "config",
                "-S",
                f"config-var=signing_key={secrets.token_hex(32)}",
                str(component),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = MODELS[model]
        deadline = time.monotonic() + 120
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{component} did not start")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.request("GET", f"{self.base}/health")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def predict(connection: http.client.HTTPConnection, base: str, text: str) -> dict:
    body = json.dumps({"text": text})
    connection.request("POST", f"{base}/predict", body, {"content-type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {payload!r}")
    return json.loads(payload)


def request_figures(host: Host, texts: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Client-observed request latency, and the handler's own inference latency."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=60)
    for text in texts[:10]:
        predict(connection, host.base, text)
    client, handler = [], []
    for text in texts:
        started = time.perf_counter()
        answer = predict(connection, host.base, text)
        client.append((time.perf_counter() - started) * 1e3)
        handler.append(answer["latency_ms"])
    return summary(client), summary(handler)


def saturation(host: Host, texts: list[str], clients: int, seconds: float) -> float:
    """Requests per second with `clients` concurrent keep-alive clients, for `seconds`."""
    deadline = time.monotonic() + seconds
    counts = [0] * clients

    def run(slot: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=60)
        index = slot
        while time.monotonic() < deadline:
            predict(connection, host.base, texts[index % len(texts)])
            counts[slot] += 1
            index += clients

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each saturation run")
    args = parser.parse_args()
    native = native_figures()
    for model in MODELS:
        texts = golden_texts(model)
        print(f"\n## {model}: {len(texts)} golden tweets, one at a time", flush=True)
        reference = onnxruntime_figures(model, texts, exact=False)
        rows = {
            "onnxruntime (Python, optimised graph)": reference,
            "onnxruntime (Python, exact graph)": onnxruntime_figures(model, texts, exact=True),
            "tract native (predict)": {"p50": native[model]["p50_ms"], "p99": native[model]["p99_ms"]},
        }
        extra = {}
        for reuse, label in ((False, DEPLOYED), (True, WARM)):
            host = Host(model, reuse)
            try:
                client, handler = request_figures(host, texts)
                rows[f"wasm {label}: handler inference"] = handler
                rows[f"wasm {label}: whole HTTP request"] = client
                extra[label] = {
                    "rps_2_clients": saturation(host, texts, 2, args.seconds),
                    "rps_4_clients": saturation(host, texts, 4, args.seconds),
                    "peak_rss_mb": host.peak_rss_mb(),
                }
            finally:
                host.close()
        print("| runtime | p50 ms | p99 ms | p50 / onnxruntime |\n|---|---|---|---|")
        for name, figures in rows.items():
            print(
                f"| {name} | {figures['p50']:.3f} | {figures['p99']:.3f} | {figures['p50'] / reference['p50']:.2f}x |"
            )
        warm = rows[f"wasm {WARM}: whole HTTP request"]["p50"]
        deployed = rows[f"wasm {DEPLOYED}: whole HTTP request"]["p50"]
        print(
            f"\nas deployed / warm request p50: {deployed / warm:.2f}x; "
            f"native model load {native[model]['load_ms']:.1f} ms (never paid by a request: the component is "
            f"pre-initialized), heap peak while building {native[model]['build_peak_mb']:.0f} MB "
            f"(wizer copies at most 134 MB), {native[model]['built_mb']:.0f} MB kept; "
            f"component {component_mb(model):.1f} MB"
        )
        for label, figures in extra.items():
            print(
                f"{label}: {figures['rps_2_clients']:.0f} req/s with 2 clients, {figures['rps_4_clients']:.0f} with 4; "
                f"wasmtime peak RSS {figures['peak_rss_mb']:.0f} MB"
            )
    sizes = {model: component_mb(model) for model in MODELS}
    print(f"\ncomponents together {sum(sizes.values()):.1f} MB (Fermyon Cloud allows 100 MB an app)")


def component_mb(model: str) -> float:
    return (ROOT / "target/components" / f"sentiment-{model}.wasm").stat().st_size / 1e6


if __name__ == "__main__":
    main()
