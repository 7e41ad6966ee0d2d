"""AWS for the local stack: a moto server on loopback, and the template's resources created in it.

Table, queues, bus and key are created from their template.yaml properties (never defined a second time here), so a
change to the template changes the local stack and the tests with it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local.template import SamTemplate, TemplateError

log = logging.getLogger("local.aws")

# Dummy credentials: moto accepts anything, and real AWS must never be reached from the local stack.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    # moto is not AWS: on a busy machine a batch of large items can take seconds (leadbridge.aws_clients).
    "LEADBRIDGE_AWS_READ_TIMEOUT": "60",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "leadbridge",
}

# Types local.aws creates in moto; the rest (functions, layer, HTTP API) run in-process.
_MOTO_TYPES = ("AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::Events::EventBus",
               "AWS::Events::Rule", "AWS::SQS::QueuePolicy")
_IN_PROCESS_TYPES = ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion", "AWS::Serverless::HttpApi")
# Operations resources (logs retention, alarms, their topic, the dashboard) only matter in AWS: nothing runs on them.
_DEPLOY_ONLY_TYPES = ("AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SNS::Topic",
                      "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::CloudFront::Distribution",
                      "AWS::CloudFront::OriginAccessControl")  # fmt: skip


class MotoServer:
    """A moto server on 127.0.0.1 and a free port, in its own process.

    Its own process, not moto's ThreadedMotoServer: the gateway, the functions, the pump and the CRM sandboxes already
    share this interpreter's lock, and AWS answering from a second process lets two cores work (the test suite and
    the webhook burst run about twice as fast)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self) -> str:
        port = _free_port()
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            # moto's server with its DynamoDB answers written faster (`local.moto_process`)
            [sys.executable, "-m", "local.moto_process", "-H", "127.0.0.1", "-p", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # one line per AWS call would drown the stack's own output
        )
        atexit.register(self.stop)
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with status {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1) as response:
                    response.read()
                return self.endpoint
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start within 30 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def reset(self) -> None:
        reset_moto(self.endpoint)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def configure_process_env(endpoint: str) -> None:
    """Point every boto3 client of this process (tests, in-process functions) at moto with dummy credentials."""
    os.environ.update(LOCAL_AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint


def client(service: str, endpoint: str, region: str = "eu-west-1") -> Any:
    factory: Any = boto3.client  # service names are dynamic here; the typed overloads want literals
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


@dataclass
class LocalResources:
    """Physical names/URLs of the template's resources in moto, by logical id, plus the functions' environment."""

    endpoint: str
    region: str
    table_name: str
    event_bus_name: str
    kms_key_id: str
    kms_key_arn: str
    queue_urls: dict[str, str]  # logical id -> URL
    queue_arns: dict[str, str]
    refs: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)  # Globals environment, resolved
    function_environments: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def sync_queue_url(self) -> str:
        return self.queue_urls["SyncQueue"]

    @property
    def sync_dlq_url(self) -> str:
        return self.queue_urls["SyncDLQ"]

    @property
    def webhook_queue_url(self) -> str:
        return self.queue_urls["WebhookQueue"]

    @property
    def webhook_dlq_url(self) -> str:
        return self.queue_urls["WebhookDLQ"]


def create_resources(
    template: SamTemplate, endpoint: str, *, extra_environment: dict[str, str] | None = None
) -> LocalResources:
    """Create every template resource moto can hold, in dependency order, and resolve the function environments."""
    resolver = template.resolver
    resolver.refs.clear()
    resolver.attributes.clear()
    region = resolver.region
    clients = {name: client(name, endpoint, region) for name in ("dynamodb", "sqs", "events", "kms")}

    pending = {
        logical_id: resource
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in _MOTO_TYPES
    }
    unsupported = {
        f"{logical_id} ({resource.get('Type')})"
        for logical_id, resource in template.resources.items()
        if resource.get("Type") not in _MOTO_TYPES + _IN_PROCESS_TYPES + _DEPLOY_ONLY_TYPES
    }
    if unsupported:
        log.warning("local stack does not create: %s", ", ".join(sorted(unsupported)))
    _register_in_process_refs(template)

    while pending:
        progressed = False
        for logical_id in list(pending):
            resource = pending[logical_id]
            try:
                properties = template.resolve(resource.get("Properties") or {})
            except TemplateError:
                continue  # depends on a resource not created yet
            _CREATORS[resource["Type"]](clients, template, logical_id, properties, region)
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise TemplateError(f"cannot resolve properties of {sorted(pending)} (circular or missing references)")

    environment = template.global_environment()
    if extra_environment:
        environment.update(extra_environment)
    function_environments = {}
    for function_id in template.functions():
        function_environments[function_id] = {**template.function_environment(function_id), **(extra_environment or {})}

    refs = resolver.refs
    tables = template.resources_of_type("AWS::DynamoDB::Table")
    buses = template.resources_of_type("AWS::Events::EventBus")
    keys = template.resources_of_type("AWS::KMS::Key")
    queues = template.resources_of_type("AWS::SQS::Queue")
    first_key = next(iter(keys), None)
    return LocalResources(
        endpoint=endpoint,
        region=region,
        table_name=refs[next(iter(tables))] if tables else "",
        event_bus_name=refs[next(iter(buses))] if buses else "",
        kms_key_id=refs[first_key] if first_key else "",
        kms_key_arn=resolver.attributes[(first_key, "Arn")] if first_key else "",
        queue_urls={q: refs[q] for q in queues},
        queue_arns={q: resolver.attributes[(q, "Arn")] for q in queues},
        refs=dict(refs),
        environment=environment,
        function_environments=function_environments,
    )


def _register_in_process_refs(template: SamTemplate) -> None:
    resolver = template.resolver
    stage = template.parameters.get("Stage", "local")
    for logical_id, resource in template.resources.items():
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            name = f"leadbridge-{stage}-{logical_id}"
            resolver.refs[logical_id] = name
            resolver.attributes[(logical_id, "Arn")] = (
                f"arn:aws:lambda:{resolver.region}:{resolver.account_id}:function:{name}"
            )
        elif kind == "AWS::Serverless::HttpApi":
            resolver.refs[logical_id] = "local"
        elif kind == "AWS::Serverless::LayerVersion":
            resolver.refs[logical_id] = (
                f"arn:aws:lambda:{resolver.region}:{resolver.account_id}:layer:{logical_id}:1"
            )


def _create_key(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                region: str) -> None:
    kms = clients["kms"]
    key = kms.create_key(Description=str(props.get("Description", logical_id)))["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    template.resolver.refs[logical_id] = key["KeyId"]
    template.resolver.attributes[(logical_id, "Arn")] = key["Arn"]
    template.resolver.attributes[(logical_id, "KeyId")] = key["KeyId"]


def _create_alias(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                  region: str) -> None:
    clients["kms"].create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    template.resolver.refs[logical_id] = props["AliasName"]


# CloudFormation property -> SQS attribute for the attributes that keep their name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled", "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
)


def _create_queue(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                  region: str) -> None:
    sqs = clients["sqs"]
    name = props.get("QueueName") or f"{template.resolver.stack_name}-{logical_id}"
    attributes = {k: _attribute_text(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
        if policy in props:
            value = props[policy]
            attributes[policy] = value if isinstance(value, str) else json.dumps(value)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    template.resolver.refs[logical_id] = url
    template.resolver.attributes[(logical_id, "Arn")] = arn
    template.resolver.attributes[(logical_id, "QueueName")] = name
    template.resolver.attributes[(logical_id, "QueueUrl")] = url


def _attribute_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _create_table(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                  region: str) -> None:
    ddb = clients["dynamodb"]
    name = props.get("TableName") or f"{template.resolver.stack_name}-{logical_id}"
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in props:
            request[key] = props[key]
    stream = props.get("StreamSpecification")
    if stream:  # CloudFormation's has only the view type; a table with one has a stream
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    sse = props.get("SSESpecification")
    if sse:
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled")), "SSEType": sse.get("SSEType", "KMS")}
    table = ddb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    template.resolver.refs[logical_id] = name
    template.resolver.attributes[(logical_id, "Arn")] = table["TableArn"]
    if "LatestStreamArn" in table:
        template.resolver.attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]


def _create_bus(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                region: str) -> None:
    arn = clients["events"].create_event_bus(Name=props["Name"])["EventBusArn"]
    template.resolver.refs[logical_id] = props["Name"]
    template.resolver.attributes[(logical_id, "Arn")] = arn
    template.resolver.attributes[(logical_id, "Name")] = props["Name"]


def _create_rule(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                 region: str) -> None:
    """An EventBridge rule with its targets: moto delivers matching PutEvents to SQS targets like AWS does."""
    events = clients["events"]
    name = props.get("Name") or f"{template.resolver.stack_name}-{logical_id}"
    bus = props.get("EventBusName") or "default"
    request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if "ScheduleExpression" in props:
        request["ScheduleExpression"] = props["ScheduleExpression"]
    arn = events.put_rule(**request)["RuleArn"]
    targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets") or []]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    template.resolver.refs[logical_id] = name if bus == "default" else f"{bus}|{name}"
    template.resolver.attributes[(logical_id, "Arn")] = arn


def _create_queue_policy(clients: dict[str, Any], template: SamTemplate, logical_id: str, props: dict[str, Any],
                         region: str) -> None:
    for url in props.get("Queues") or []:
        clients["sqs"].set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    template.resolver.refs[logical_id] = logical_id


_CREATORS = {
    "AWS::KMS::Key": _create_key,
    "AWS::KMS::Alias": _create_alias,
    "AWS::SQS::Queue": _create_queue,
    "AWS::DynamoDB::Table": _create_table,
    "AWS::Events::EventBus": _create_bus,
    "AWS::Events::Rule": _create_rule,
    "AWS::SQS::QueuePolicy": _create_queue_policy,
}
