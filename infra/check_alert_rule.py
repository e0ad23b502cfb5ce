"""Checks that the Azure alert in main.bicep is the rule the cloud-api evaluates locally.

Parses main.bicep with pycep (checkov's Bicep parser) and the cloud-api's defaults from its
source; exits 1 naming each difference. Run by scripts/test.sh in checkov's environment.
"""

import re
import sys
from pathlib import Path

from pycep import BicepParser

ROOT = Path(__file__).resolve().parent.parent


def cloud_api_default(name: str) -> int:
    config = (ROOT / "cloud-api/src/config.rs").read_text()
    match = re.search(rf'parse\("{name}", "(\d+)"\)', config)
    if match is None:
        sys.exit(f"{name}'s default not found in cloud-api/src/config.rs")
    return int(match.group(1))


def iso_minutes(duration: str) -> int:
    match = re.fullmatch(r"PT(\d+)M", duration)
    if match is None:
        sys.exit(f"unexpected duration {duration!r}")
    return int(match.group(1))


def main() -> None:
    bicep = BicepParser().parse(text=(ROOT / "infra/main.bicep").read_text())
    rule = bicep["resources"]["rejectionAlert"]["config"]["properties"]
    criterion = rule["criteria"]["allOf"][0]
    threshold = bicep["parameters"][criterion["threshold"]]["default"]
    problems = []
    if threshold != cloud_api_default("MOODWING_ALERT_THRESHOLD"):
        problems.append(f"threshold {threshold} != the cloud-api's")
    if iso_minutes(rule["windowSize"]) * 60 != cloud_api_default("MOODWING_ALERT_WINDOW_SECS"):
        problems.append(f"window {rule['windowSize']} != the cloud-api's")
    if criterion["operator"] != "GreaterThanOrEqual" or criterion["timeAggregation"] != "Count":
        problems.append("the rule must count events and fire at the threshold (>=)")
    one_row_per_feedback = (
        r'customEvents \| where name == "prediction_rejected" '
        r"\| summarize arg_max\(timestamp, \*\) by feedback_id = tostring\(customDimensions\.feedback_id\)"
    )
    if not re.fullmatch(one_row_per_feedback, criterion["query"]):
        problems.append(f"query {criterion['query']!r} does not count prediction_rejected events once per feedback")
    if iso_minutes(rule["evaluationFrequency"]) > iso_minutes(rule["windowSize"]):
        problems.append("evaluated less often than its window: rejections could go unseen")
    if not rule["actions"]["actionGroups"]:
        problems.append("no action group: nobody would be told")
    for problem in problems:
        print(f"infra/main.bicep: {problem}")
    if problems:
        sys.exit(1)
    print(f"alert rule: {threshold} rejections in {rule['windowSize']}, same as the cloud-api's")


if __name__ == "__main__":
    main()
