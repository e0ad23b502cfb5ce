"""The improvement loop with no manual step, as the scheduled workflow runs it:

    MOODWING_OPERATOR_TOKEN=... python -m moodwing_training.loop --feedback-api https://<cloud-api>/api \
        [--since 2026-11-01T00:00:00Z] [--approach lstm] [--body pr-body.md] [improve's options]

1. exports every page of the feedback from the cloud-api (`GET /api/feedback/export`);
2. runs `improve` against the registry (`MLFLOW_TRACKING_URI`);
3. when the challenger is promoted: builds its bundle (logged into the registry with its version),
   releases it into `edge-model/models/<approach>/` (`release`, which also writes the results
   tables), and writes the pull request's body to `--body`: the comparison and the released files.
   When it is not, nothing in the repository changes and no body is written. A promoted challenger
   whose bundle fails its contract (`bundle.validate`, the int8 loss budget) is not released: the
   champion alias goes back to the version it was on, and the loop fails saying why.
"""

import argparse
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from . import bundle, improve, registry, release, tracking, train
from .data import DataError

PAGE = 10_000  # the cloud-api's most feedbacks per page (MAX_EXPORT)


class LoopError(RuntimeError):
    """The loop could not get what it needs (the export)."""


@dataclass(frozen=True)
class Result:
    name: str
    outcome: improve.Outcome
    released: list[str]  # what `release` said; empty when nothing was promoted


def export_feedback(api: str, token: str, since: str | None, path: Path) -> int:
    """Every exported feedback after `since`, page after page, into `path` (NDJSON); how many."""
    after_row, total = 0, 0
    with path.open("w", encoding="utf-8") as out:
        while True:
            query = {"after_row": after_row, "limit": PAGE} | ({"since": since} if since else {})
            request = urllib.request.Request(
                f"{api.rstrip('/')}/feedback/export?{urllib.parse.urlencode(query)}",
                headers={"Authorization": f"Bearer {token}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    # NDJSON lines end at "\n" only: a tweet may hold U+2028 or U+0085 (splitlines would cut there).
                    lines = [line for line in response.read().decode("utf-8").split("\n") if line.strip()]
                    last_row = response.headers.get("x-last-row")
            except urllib.error.HTTPError as error:
                raise LoopError(f"the feedback export answered {error.code}: {error.read()[:200]!r}") from None
            except urllib.error.URLError as error:
                raise LoopError(f"cannot reach the feedback export at {api}: {error.reason}") from None
            out.write("".join(f"{line}\n" for line in lines))
            total += len(lines)
            if last_row is None or len(lines) < PAGE:
                return total
            after_row = int(last_row)


def pull_request_body(result: Result) -> str:
    outcome = result.outcome
    files = "\n".join(result.released)
    return f"""## {result.name}: v{outcome.champion_version} -> v{outcome.challenger_version}

The improvement loop promoted the challenger trained with the feedback slice `{outcome.slice_version}`
(MLflow run `{outcome.run_id}`), and released its bundle from the registry. Merging this deploys it.

{improve.comparison_markdown(outcome.comparisons, outcome.decision)}
### Released

```
{files}
```
"""


def run_loop(
    api: str,
    token: str,
    since: str | None,
    approach: str,
    options: train.Options,
    holdout_percent: int,
    weight: int,
    out: Path | None = None,
    table_bits: int | None = None,
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / "feedback.ndjson"
        count = export_feedback(api, token, since, exported)
        print(f"[loop] {count} feedbacks exported from {api}", flush=True)
        outcome = improve.improve(approach, exported, options, holdout_percent, weight)
        name = tracking.registered_name(approach)
        if not outcome.decision.promote:
            return Result(name, outcome, [])
        try:
            bundle.build(
                name,
                Path(tmp) / "bundle",
                version=outcome.challenger_version,
                sentiment140=options.sentiment140,
                tweeteval_dir=train.resolve_tweeteval(options.tweeteval),
                table_bits=table_bits,
            )
        except Exception as error:
            # A champion must be releasable: whatever stopped its bundle, the promotion is undone.
            client = MlflowClient()
            client.set_registered_model_alias(name, tracking.CHAMPION, outcome.champion_version)
            client.set_tag(outcome.run_id, "decision", "promoted, then restored: its bundle failed")
            raise LoopError(
                f"v{outcome.challenger_version} was promoted but its bundle fails its contract ({error}); "
                f"{name}@{tracking.CHAMPION} is v{outcome.champion_version} again"
            ) from None
        released = release.release(name, None, outcome.challenger_version, out)
    return Result(name, outcome, released)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feedback-api", required=True, help="the cloud-api's base address, ending in /api")
    parser.add_argument("--since", help="export the feedback received since (RFC 3339 or Unix ms)")
    parser.add_argument("--approach", choices=("lstm", "bert"), default="lstm", help="a served approach")
    parser.add_argument("--body", type=Path, help="where to write the pull request's body, when it promotes")
    parser.add_argument("--out", type=Path, help="the bundle's folder (default: edge-model/models/<approach>/)")
    parser.add_argument("--table-bits", type=int, help="as for bundle (default: the approach's)")
    improve.add_options(parser)
    args = parser.parse_args(argv)
    options, holdout_percent, weight = improve.options_from(parser, args)
    if args.table_bits is not None and not 2 <= args.table_bits <= 8:
        parser.error("--table-bits must be 2 to 8")
    token = os.environ.get("MOODWING_OPERATOR_TOKEN", "")
    if not token:
        parser.error("MOODWING_OPERATOR_TOKEN must hold the cloud-api's operator token")

    def job() -> list[str]:
        result = run_loop(
            args.feedback_api,
            token,
            args.since,
            args.approach,
            options,
            holdout_percent,
            weight,
            args.out,
            args.table_bits,
        )
        if not result.released:
            return [f"[loop] {result.name}@champion stays v{result.outcome.champion_version}"]
        if args.body:
            args.body.write_text(pull_request_body(result), encoding="utf-8")
        return result.released

    registry.run_cli(job, "loop", expected=(LoopError, DataError))


if __name__ == "__main__":
    main()
