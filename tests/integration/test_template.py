"""template.yaml: it lints (cfn-lint and sam validate --lint), and the local AWS resources are the template's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from local.aws import LocalResources
from local.template import REPO_ROOT, SamTemplate

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SAM = REPO_ROOT / ".venv-tools" / "bin" / "sam"
TEMPLATE = REPO_ROOT / "template.yaml"


def _lint_env() -> dict[str, str]:
    return {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "SAM_CLI_TELEMETRY": "0"}


def _cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CFN_LINT), "--format", "parseable", *map(str, paths)], capture_output=True, text=True,
                          env=_lint_env(), timeout=180)  # fmt: skip


def _sam_validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not SAM.exists():
        pytest.skip("aws-sam-cli not installed in .venv-tools (make tools installs it; make test does so)")
    return subprocess.run([str(SAM), "validate", "--lint", "--template", str(path)], capture_output=True, text=True,
                          env=_lint_env(), timeout=120, cwd=path.parent)


@pytest.fixture(scope="module")
def broken_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Realistic mistakes: a reference to a resource that does not exist, and a misspelt property.
    text = TEMPLATE.read_text(encoding="utf-8")
    broken = text.replace("TargetKeyId: !Ref SecretsKey", "TargetKeyId: !Ref SecretsKeyTypo", 1).replace(
        "TimeToLiveSpecification:", "TimeToLiveSpecificaton:", 1)
    assert broken != text
    directory = tmp_path_factory.mktemp("broken")
    shutil.copytree(REPO_ROOT / "layers", directory / "layers", ignore=shutil.ignore_patterns("*.egg-info"))
    path = directory / "template.yaml"
    path.write_text(broken, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def findings(broken_template: Path) -> dict[Path, list[str]]:
    """cfn-lint's findings (`rule message` lines) for the template and its broken copy, from one run (cfn-lint's own
    start-up is most of a run's time)."""
    result = _cfn_lint(TEMPLATE, broken_template)
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stdout + result.stderr  # findings, not a crash
    found: dict[Path, list[str]] = {TEMPLATE: [], broken_template: []}
    for line in result.stdout.splitlines():  # path:line:column:end line:end column:rule:message
        path, _, _, _, _, rule, message = line.split(":", 6)
        found.setdefault(Path(path), []).append(f"{rule} {message}")
    assert set(found) == {TEMPLATE, broken_template}, found  # each finding names one of the two as given
    return found


def test_cfn_lint_passes_on_the_template(findings: dict[Path, list[str]]) -> None:
    assert findings[TEMPLATE] == []


def test_cfn_lint_fails_on_a_broken_copy(findings: dict[Path, list[str]], broken_template: Path) -> None:
    rules = {finding.split(" ", 1)[0] for finding in findings[broken_template]}
    assert {"E3002", "E1020"} <= rules, findings[broken_template]  # the misspelt property, the reference to nothing


def test_sam_validate_lint_passes_on_the_template() -> None:
    result = _sam_validate(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_sam_validate_lint_fails_on_a_broken_copy(broken_template: Path) -> None:
    result = _sam_validate(broken_template)
    assert result.returncode != 0, result.stdout
    assert "E3002" in result.stdout + result.stderr


def test_template_declares_the_deploy_contract() -> None:
    template = SamTemplate(use_local_parameters=False, parameter_overrides={
        "JwtIssuer": "https://idp.example.com/", "JwtAudience": "lead-app"})
    raw = template.raw
    assert raw["Transform"] == "AWS::Serverless-2016-10-31"
    function_globals = raw["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert set(raw["Outputs"]) >= {"ApiUrl", "EventBusName", "TableName"}
    for name in ("Stage", "JwtIssuer", "JwtAudience", "CorsAllowOrigins", "TenantClaim", "RoleClaim", "AdminRole",
                 "AllowedReturnUrls", "SyncLogTtlDays", "SuperOfficeEnvironment", "SuperOfficeClientId"):
        assert name in raw["Parameters"], name
    assert raw["Parameters"]["SuperOfficeEnvironment"]["AllowedValues"] == ["sod", "qaonline", "online"]
    from leadbridge.inbound.ports import ChangeEvents

    change_events = raw["Parameters"]["ChangeEvents"]  # the bus's events of changes: the modes the kernel knows
    assert change_events["AllowedValues"] == [m.value for m in ChangeEvents] and change_events["Default"] == "record"
    assert function_globals["Environment"]["Variables"]["CHANGE_EVENTS"] == {"Ref": "ChangeEvents"}
    # Every setting the code reads is wired by the template (names from leadbridge.config).
    from leadbridge.config import _ALIASES

    environment = set(function_globals["Environment"]["Variables"])
    assert environment >= _ALIASES, _ALIASES - environment
    default_authorizer, authorizers = template.http_api_auth()
    assert authorizers[default_authorizer].issuer == "https://idp.example.com/"
    assert authorizers[default_authorizer].audience == ("lead-app",)


def test_routes_and_their_auth() -> None:
    routes = {r.route_key: r for r in SamTemplate().http_routes()}
    assert routes["GET /sync-log"].function_id == "ExportFunction"
    for key in ("POST /connections/{crm}/authorize", "GET /connections", "GET /connections/{crm}",
                "DELETE /connections/{crm}"):
        assert routes[key].function_id == "OauthFunction"
        assert routes[key].authorizer == "LeadAppJwt"
    assert routes["GET /oauth/{crm}/callback"].authorizer is None  # the CRM redirects a browser here


def test_functions_get_least_privilege_secrets_access() -> None:
    template = SamTemplate()
    for function_id in template.functions():
        statements = [s for p in template.properties(function_id)["Policies"] if isinstance(p, dict)
                      for s in p.get("Statement", [])]
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in "".join(actions), statement
            if any(a.startswith("secretsmanager:") for a in actions):
                assert template.resolve(statement["Resource"]).endswith(":secret:leadbridge/local/*")


# ---------------------------------------------------------------------------------------- moto matches template


def test_table_matches_the_template(aws: LocalResources, sam_template: SamTemplate) -> None:
    declared = sam_template.properties("Table")
    table = boto3.client("dynamodb").describe_table(TableName=aws.table_name)["Table"]

    assert aws.table_name == "leadbridge-local"
    assert table["KeySchema"] == declared["KeySchema"]
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == {
        d["AttributeName"]: d["AttributeType"] for d in declared["AttributeDefinitions"]}
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI3"}  # lookups by CRM id and by webhook key are pointer items, not an index
    for n in (1, 3):
        assert indexes[f"GSI{n}"]["KeySchema"] == [
            {"AttributeName": f"GSI{n}PK", "KeyType": "HASH"}, {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]
        assert indexes[f"GSI{n}"]["Projection"] == {"ProjectionType": "ALL"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=aws.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = boto3.client("dynamodb").describe_continuous_backups(TableName=aws.table_name)
    assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.parametrize(("queue", "dlq"), [("SyncQueue", "SyncDLQ"), ("WebhookQueue", "WebhookDLQ")])
def test_queues_redrive_to_their_dlq(aws: LocalResources, sam_template: SamTemplate, queue: str, dlq: str) -> None:
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=aws.queue_urls[queue], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == aws.queue_arns[dlq]
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["VisibilityTimeout"] == str(sam_template.properties(queue)["VisibilityTimeout"])
    assert attributes["SqsManagedSseEnabled"] == "true"
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=aws.queue_urls[dlq], AttributeNames=["All"])["Attributes"]
    assert dlq_attributes["MessageRetentionPeriod"] == "1209600"


def test_poison_message_reaches_the_dlq_after_max_receives(aws: LocalResources) -> None:
    # The redrive created from the template really moves messages (what the queue pump relies on).
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.sync_queue_url, MessageBody="poison")
    for _ in range(5):
        received = sqs.receive_message(QueueUrl=aws.sync_queue_url, VisibilityTimeout=0)
        assert len(received["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=aws.sync_queue_url, VisibilityTimeout=0)
    moved = sqs.receive_message(QueueUrl=aws.sync_dlq_url)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]


def test_bus_and_key_exist(aws: LocalResources) -> None:
    bus = boto3.client("events").describe_event_bus(Name=aws.event_bus_name)
    assert bus["Name"] == "leadbridge-local"
    kms = boto3.client("kms")
    assert kms.describe_key(KeyId=aws.kms_key_id)["KeyMetadata"]["Arn"] == aws.kms_key_arn
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/leadbridge-local-secrets"] == aws.kms_key_id
    assert kms.get_key_rotation_status(KeyId=aws.kms_key_id)["KeyRotationEnabled"] is True
    ciphertext = kms.encrypt(KeyId="alias/leadbridge-local-secrets", Plaintext=b"token")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"token"


def test_aws_fixture_sets_the_function_environment(aws: LocalResources) -> None:
    from leadbridge.config import settings

    current = settings()
    assert current.table_name == aws.table_name
    assert current.sync_queue_url == aws.sync_queue_url
    assert current.webhook_queue_url == aws.webhook_queue_url
    assert current.event_bus_name == aws.event_bus_name
    assert current.secrets_kms_key_id == aws.kms_key_id
    assert current.stage == "local"
    assert os.environ["SUPEROFFICE_CLIENT_SECRET_NAME"] == "leadbridge/local/apps/superoffice"


def test_aws_fixture_starts_from_empty_state(aws: LocalResources) -> None:
    # Runs after other tests that wrote items/messages: the reset must have removed them.
    ddb = boto3.client("dynamodb")
    assert ddb.scan(TableName=aws.table_name)["Count"] == 0
    ddb.put_item(TableName=aws.table_name, Item={"PK": {"S": "T#x"}, "SK": {"S": "LEFTOVER"}})
