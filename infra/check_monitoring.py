"""Checks that Azure's monitoring in main.bicep matches what the cloud-api does and sends.

- The rejection alert is the rule the cloud-api evaluates locally (threshold, window, >=).
- The bad-buzz alert counts `bad_buzz_suspected` events once per suspicion.
- The workbook (workbook.json) queries only events and properties the cloud-api's exporter sends.

Parses main.bicep with pycep (checkov's Bicep parser) and the cloud-api's source; exits 1 naming
each difference. Run by scripts/test.sh in checkov's environment.
"""

import json
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


def exported_names() -> tuple[set[str], set[str]]:
    """The event names and the custom properties the cloud-api's exporter sends."""
    source = (ROOT / "cloud-api/src/exporter.rs").read_text() + (ROOT / "cloud-api/src/feedback.rs").read_text()
    events = set(re.findall(r'"(prediction_rejected|prediction_validated|bad_buzz_suspected)"', source))
    keys = set(re.findall(r'KeyValue::new\(\s*"([a-z_0-9]+)"', source))
    keys |= set(re.findall(r'\(\s*"([a-z_]+)",\s*&feedback\.', source))  # optional ones, set in a loop
    keys |= {f"most_negative_{rank}" for rank in (1, 2, 3)} if "most_negative_{}" in source else set()
    return events, keys


def check_bad_buzz(bicep: dict, events: set[str]) -> list[str]:
    rule = bicep["resources"]["badBuzzAlert"]["config"]["properties"]
    criterion = rule["criteria"]["allOf"][0]
    problems = []
    once_per_suspicion = (
        r'customEvents \| where name == "bad_buzz_suspected" '
        r"\| summarize arg_max\(timestamp, \*\) by suspicion_id = tostring\(customDimensions\.suspicion_id\)"
    )
    if "bad_buzz_suspected" not in events:
        problems.append("the cloud-api sends no bad_buzz_suspected event")
    if not re.fullmatch(once_per_suspicion, criterion["query"]):
        problems.append(f"bad-buzz query {criterion['query']!r} does not count suspicions once each")
    if criterion["threshold"] != 1 or criterion["operator"] != "GreaterThanOrEqual":
        problems.append("the bad-buzz alert must fire on the first suspicion")
    if not rule["actions"]["actionGroups"]:
        problems.append("the bad-buzz alert has no action group")
    return problems


def check_workbook(events: set[str], keys: set[str]) -> list[str]:
    workbook = json.loads((ROOT / "infra/workbook.json").read_text())
    queries = [item["content"]["query"] for item in workbook["items"] if item["type"] == 3]
    problems = []
    if not queries:
        problems.append("workbook.json has no query")
    for query in queries:
        for name in re.findall(r'"([a-z_]+)"', query):
            if name not in events:
                problems.append(f"workbook query names an event the cloud-api never sends: {name}")
        for key in re.findall(r"customDimensions\.([a-z_0-9]+)", query):
            if key not in keys:
                problems.append(f"workbook query reads a property the cloud-api never sends: {key}")
    return problems


def main() -> None:
    bicep = BicepParser().parse(text=(ROOT / "infra/main.bicep").read_text())
    events, keys = exported_names()
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
    problems += check_bad_buzz(bicep, events) + check_workbook(events, keys)
    for problem in problems:
        print(f"infra: {problem}")
    if problems:
        sys.exit(1)
    print(
        f"alert rule: {threshold} rejections in {rule['windowSize']}, same as the cloud-api's; "
        "bad-buzz alert and workbook match the events sent"
    )


if __name__ == "__main__":
    main()
