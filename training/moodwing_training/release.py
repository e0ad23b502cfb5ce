"""Release a registered version: its bundle, fetched from the registry and checked whole, becomes the
served bundle in `edge-model/models/<approach>/`, and the README's and the blog's results tables are
written from it. Merging the change deploys it (`deploy.yml`).

    python -m moodwing_training.release --model moodwing-lstm [--alias champion | --version N] [--out DIR]

Nothing is written unless the whole bundle checks out: its model.json is the one registered with the
version, every file has the sha256 model.json gives it, and the bundle meets its contract
(`bundle.validate`). The bundle is the one `bundle` built and logged, byte for byte, so two machines
releasing the same version write the same files.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from . import registry, tracking
from .bundle import MODEL_JSON_SHA256

BLOG_TOOL = tracking.TRAINING_DIR.parent / "docs" / "tools" / "blog.py"


def release(name: str, alias: str | None, version: str | None, out: Path | None) -> list[str]:
    tracking.configure()
    approach = name.removeprefix("moodwing-")
    target = out or registry.MODELS_DIR / approach
    model_version, card = registry.fetch(name, alias, version, target)
    # fetch checked every file against these digests, and model.json against the version's tag.
    digests = {**card["sha256"], "model.json": model_version.tags[MODEL_JSON_SHA256]}
    said = [
        f"{name} v{model_version.version} (run {model_version.run_id}) -> {target}",
        *(f"  {file}  sha256 {digest}" for file, digest in sorted(digests.items())),
    ]
    if target.resolve().parent == registry.MODELS_DIR.resolve() and BLOG_TOOL.is_file():
        subprocess.run([sys.executable, str(BLOG_TOOL), "write"], check=True, cwd=BLOG_TOOL.parent)
        said.append("README.md and the blog's results tables written from the bundles")
    return said


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="registered model name, e.g. moodwing-lstm")
    parser.add_argument("--alias", default=tracking.CHAMPION, help="default: champion")
    parser.add_argument("--version", help="a model version; overrides --alias")
    parser.add_argument("--out", type=Path, help="default: edge-model/models/<approach>/")
    args = parser.parse_args(argv)
    registry.run_cli(lambda: release(args.model, args.alias, args.version, args.out), "release")


if __name__ == "__main__":
    main()
