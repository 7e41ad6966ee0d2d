"""template.yaml is operable in the customer's account: every function's logs have a retention, every dead-letter
queue, failed sync runs and every function's errors and throttles raise an alarm that points at the right resource
and notifies the optional topic, and the dashboard and alarms watch metrics the code really emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import REPO_ROOT, SamTemplate

TEMPLATE = SamTemplate()
RESOURCES = TEMPLATE.resources
ALARMS = TEMPLATE.resources_of_type("AWS::CloudWatch::Alarm")
TOPIC_ACTIONS = {
    "Fn::If": [
        "NotifyAlarms",
        [{"Fn::If": ["UseExistingAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}],
        {"Ref": "AWS::NoValue"},
    ]
}


def _dead_letter_queues() -> list[str]:
    """The queues some other queue's RedrivePolicy, or a stream event source's OnFailure, sends its failures to."""
    found = []
    for props in (TEMPLATE.properties(q) for q in TEMPLATE.resources_of_type("AWS::SQS::Queue")):
        target = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if target:
            found.append(target["Fn::GetAtt"][0])
    found += [s.on_failure_queue_logical_id for s in TEMPLATE.stream_subscriptions() if s.on_failure_queue_logical_id]
    return sorted(found)


def _alarms_on(namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: alarm["Properties"]
        for logical_id, alarm in ALARMS.items()
        if alarm["Properties"]["Namespace"] == namespace and alarm["Properties"]["MetricName"] == metric
    }


def _emitted_metrics() -> set[str]:
    """Metric names the handlers emit with Powertools (`add_metric(name="...")` or an f-string prefix)."""
    names: set[str] = set()
    for path in (REPO_ROOT / "functions").rglob("*.py"):
        names.update(re.findall(r'add_metric\(\s*name=f?"([A-Za-z_]+)', path.read_text(encoding="utf-8")))
    return names


def test_every_function_logs_to_a_group_with_the_retention_parameter() -> None:
    functions = TEMPLATE.functions()
    assert len(functions) >= 9
    for function_id in functions:
        logging_config = TEMPLATE.properties(function_id)["LoggingConfig"]
        group_id = logging_config["LogGroup"]["Ref"]
        group = RESOURCES[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert TEMPLATE.parameters["LogRetentionDays"] == "30"


def test_each_dead_letter_queue_has_a_depth_alarm() -> None:
    queues = _dead_letter_queues()
    assert queues == ["ChangeEventsDLQ", "ExportDLQ", "LeadEventsDLQ", "SyncDLQ", "WebhookDLQ"]
    depth = _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    watched = sorted(p["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for p in depth.values())
    assert watched == queues
    for props in depth.values():
        assert props["Dimensions"][0]["Name"] == "QueueName"
        assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_each_function_has_an_errors_and_a_throttles_alarm(metric: str) -> None:
    alarms = _alarms_on("AWS/Lambda", metric)
    watched = sorted(p["Dimensions"][0]["Value"]["Ref"] for p in alarms.values())
    assert watched == sorted(TEMPLATE.functions())
    for props in alarms.values():
        assert props["Dimensions"][0]["Name"] == "FunctionName"


def test_failed_sync_runs_alarm_watches_the_workers_metric() -> None:
    (props,) = _alarms_on("leadbridge", "SyncJobFailed").values()
    worker_environment = TEMPLATE.properties("SyncWorkerFunction")["Environment"]["Variables"]
    assert props["Dimensions"] == [{"Name": "service", "Value": worker_environment["POWERTOOLS_SERVICE_NAME"]}]
    global_variables = TEMPLATE.template["Globals"]["Function"]["Environment"]["Variables"]
    assert global_variables["POWERTOOLS_METRICS_NAMESPACE"] == props["Namespace"]
    assert "SyncJobFailed" in _emitted_metrics()


def test_an_alarm_says_when_the_bus_falls_behind_the_change_feed() -> None:
    (props,) = _alarms_on("AWS/Lambda", "IteratorAge").values()
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ChangeEventsRelayFunction"}}]
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Maximum", 300000, "GreaterThanThreshold"
    )
    assert "docs/operations.md#change-events-behind" in props["AlarmDescription"]


def test_every_alarm_notifies_the_optional_topic() -> None:
    assert len(ALARMS) == 5 + 1 + 1 + 2 * len(TEMPLATE.functions())
    for logical_id, alarm in ALARMS.items():
        assert alarm["Properties"]["AlarmActions"] == TOPIC_ACTIONS, logical_id
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", logical_id
    topic = RESOURCES["AlarmTopic"]
    assert topic["Condition"] == "CreateAlarmTopic"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]


def _dashboard() -> dict[str, Any]:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    document: dict[str, Any] = json.loads(body)  # placeholders sit inside strings, so the body is JSON as written
    return document


def test_the_dashboard_shows_runs_records_crm_calls_failures_and_webhooks() -> None:
    widgets = _dashboard()["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == ["Sync runs", "Records synced (from the CRM)", "CRM calls by sync runs", "Webhook intake",
                      "Dead-letter queues", "Function errors"]
    emitted = _emitted_metrics()
    for widget in widgets:
        for namespace, metric, *_ in widget["properties"]["metrics"]:
            if namespace == "leadbridge":
                assert metric in emitted or any(metric.startswith(prefix) for prefix in emitted), metric


def test_the_docs_explain_every_alarm() -> None:
    text = Path(REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for anchor in ("dead-letter-queues", "failed-sync-runs", "function-errors", "function-throttles"):
        assert f"docs/operations.md#{anchor}" in json.dumps(ALARMS)
        heading = anchor.replace("-", " ")
        assert re.search(rf"^## {heading}$", text, flags=re.M | re.I), anchor
