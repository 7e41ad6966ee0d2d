"""template.yaml as the local stack sees it: `!` tags, Globals merged into functions, intrinsics resolved.

Everything local (moto resources, gateway routes, queue pump, scheduler, function environment) is read from here so
the local stack cannot drift from what `sam deploy` creates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "leadbridge-local"

# Parameter values the local stack deploys with (what `sam deploy --parameter-overrides` would be in the cloud).
LOCAL_PARAMETERS: dict[str, str] = {
    "Stage": "local",
    "JwtIssuer": "https://issuer.leadbridge.local/",
    "JwtAudience": "leadbridge-local",
    "CorsAllowOrigins": "http://localhost:5173,http://127.0.0.1:5173,http://localhost:3001",
    "AllowedReturnUrls": "http://localhost:5173/,http://127.0.0.1:5173/",
    "SuperOfficeEnvironment": "sod",
    "SuperOfficeClientId": "leadbridge-local-client",
    # The stack replaces this with its gateway's real URL (tests use port 0).
    "PublicApiUrl": "http://127.0.0.1:3000",
}


class TemplateError(ValueError):
    """template.yaml uses something the local stack cannot resolve."""


# ------------------------------------------------------------------------------------------------ loading


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when PyYAML has it: ~10x faster on template.yaml) that turns CloudFormation short-form
    tags into their long form ({"Ref": ...}, {"Fn::Sub": ...})."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass, only adds tag constructors
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return data


# ------------------------------------------------------------------------------------------------ Globals


def _merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (local wins per key), lists are additive, scalars are overridden."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def expand_globals(template: dict[str, Any]) -> dict[str, Any]:
    globals_by_type = {
        "AWS::Serverless::Function": (template.get("Globals") or {}).get("Function") or {},
        "AWS::Serverless::HttpApi": (template.get("Globals") or {}).get("HttpApi") or {},
    }
    resources = {}
    for logical_id, resource in template["Resources"].items():
        defaults = globals_by_type.get(resource.get("Type"))
        if defaults:
            resource = {**resource, "Properties": _merge_globals(defaults, resource.get("Properties") or {})}
        resources[logical_id] = resource
    return {**template, "Resources": resources}


# ------------------------------------------------------------------------------------------------ intrinsics

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass
class Resolver:
    """Resolves intrinsic functions against parameter values and the physical ids of resources created so far."""

    parameters: Mapping[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    region: str = REGION
    account_id: str = ACCOUNT_ID
    stack_name: str = STACK_NAME

    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::NoValue": "",
        }

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"!Ref {name}: unknown parameter, or resource not created locally")

    def get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.attributes[(resource, attribute)]
        except KeyError:
            raise TemplateError(f"!GetAtt {resource}.{attribute}: not available locally") from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda arg: self.ref(self.resolve(arg)),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": lambda arg: str(self.resolve(arg[0])).join(str(v) for v in self.resolve(arg[1])),
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(self.resolve(arg[0])),
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::If": self._fn_if,
            "Fn::Equals": lambda arg: str(self.resolve(arg[0])) == str(self.resolve(arg[1])),
            "Fn::Not": lambda arg: not self.resolve(arg[0]),
            "Fn::And": lambda arg: all(self.resolve(v) for v in arg),
            "Fn::Or": lambda arg: any(self.resolve(v) for v in arg),
            "Condition": lambda arg: self.condition(arg),
        }

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(self.conditions[name]))

    def _fn_get_att(self, arg: Any) -> str:
        resource, attribute = self.resolve(arg) if isinstance(arg, list) else str(arg).split(".", 1)
        return self.get_att(resource, attribute)

    def _fn_if(self, arg: list[Any]) -> Any:
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)


# ------------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    properties: dict[str, Any]

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def relative_module_file(self) -> str:
        return self.module_file.relative_to(REPO_ROOT).as_posix()

    @property
    def timeout_seconds(self) -> int:
        return int(self.properties.get("Timeout", 3))

    @property
    def memory_mb(self) -> int:
        return int(self.properties.get("MemorySize", 128))


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    event_id: str
    method: str  # upper case, or ANY
    path: str  # as declared, e.g. /connections/{crm}
    authorizer: str | None  # None = public (Authorizer: NONE)
    authorization_scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class JwtAuthorizer:
    name: str
    issuer: str
    audience: tuple[str, ...]
    identity_source: str


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool


@dataclass(frozen=True)
class SqsSubscription:
    function_id: str
    event_id: str
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class StreamSubscription:
    """A `DynamoDB` event: the function reads its table's stream (`local.streams`)."""

    function_id: str
    event_id: str
    table_logical_id: str
    batch_size: int
    report_batch_item_failures: bool
    filter_patterns: tuple[dict[str, Any], ...]  # none: every record
    max_retry_attempts: int  # -1: until the record is too old
    max_record_age_seconds: int  # -1: until the stream drops it
    on_failure_queue_logical_id: str | None
    enabled: bool

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Lambda's event filtering: a record passes if any pattern matches it."""
        return not self.filter_patterns or any(_matches(p, record) for p in self.filter_patterns)


_PATTERN_OPERATORS = {"prefix"}


def _matches(pattern: Mapping[str, Any], value: Any) -> bool:
    """The subset of EventBridge patterns the template uses: nested fields, lists of values and `prefix`."""
    if not isinstance(value, Mapping):
        return False
    for name, wanted in pattern.items():
        if name not in value:
            return False
        if isinstance(wanted, Mapping):
            if not _matches(wanted, value[name]):
                return False
        elif not any(_matches_value(option, value[name]) for option in wanted):
            return False
    return True


def _matches_value(option: Any, value: Any) -> bool:
    if isinstance(option, Mapping):
        return isinstance(value, str) and value.startswith(str(option["prefix"]))
    return bool(option == value)


def _check_pattern(where: str, pattern: Any) -> None:
    if not isinstance(pattern, Mapping):
        raise TemplateError(f"{where}: a filter pattern is a JSON object")
    for name, wanted in pattern.items():
        if isinstance(wanted, Mapping):
            _check_pattern(f"{where}.{name}", wanted)
        elif not isinstance(wanted, list):
            raise TemplateError(f"{where}.{name}: a pattern's leaves are lists")
        else:
            for option in wanted:
                if isinstance(option, Mapping) and set(option) - _PATTERN_OPERATORS:
                    raise TemplateError(f"{where}.{name}: the local stream pump knows only {_PATTERN_OPERATORS}")


@dataclass(frozen=True)
class ScheduleSpec:
    function_id: str
    event_id: str
    expression: str
    enabled: bool
    input: str | None  # JSON text to send instead of the Scheduled Event payload


class SamTemplate:
    """template.yaml loaded for local use. `parameters` are the template defaults overlaid with local values."""

    def __init__(
        self,
        path: Path = TEMPLATE_PATH,
        parameter_overrides: Mapping[str, str] | None = None,
        *,
        use_local_parameters: bool = True,
    ) -> None:
        self.path = path
        self.root = path.resolve().parent
        self.raw = load_template(path)
        self.template = expand_globals(self.raw)
        overrides = {**(LOCAL_PARAMETERS if use_local_parameters else {}), **(parameter_overrides or {})}
        self.parameters = self._parameter_values(overrides)
        self.resolver = Resolver(self.parameters, conditions=self.template.get("Conditions") or {})

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        declared = self.template.get("Parameters") or {}
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no Default and no local value")
        return values

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template["Resources"])

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v.get("Type") == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.template["Resources"][logical_id].get("Properties") or {})

    def resolve(self, value: Any) -> Any:
        return self.resolver.resolve(value)

    # -------------------------------------------------------------------------------- functions and events

    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        for logical_id, resource in self.resources_of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties") or {}
            if "CodeUri" not in props or "Handler" not in props:
                raise TemplateError(f"{logical_id}: local stack needs CodeUri and Handler")
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=(self.root / str(props["CodeUri"])).resolve(),
                handler=str(props["Handler"]),
                properties=props,
            )
        return specs

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment variables, resolved (needs the resources created: see local.aws)."""
        variables = ((self.properties(logical_id).get("Environment") or {}).get("Variables")) or {}
        return {k: _env_text(self.resolve(v)) for k, v in variables.items()}

    def global_environment(self) -> dict[str, str]:
        variables = ((((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {})
                     .get("Variables")) or {}
        return {k: _env_text(self.resolve(v)) for k, v in variables.items()}

    def _events(self, event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        found = []
        for function_id in self.functions():
            events = self.properties(function_id).get("Events") or {}
            for event_id, event in events.items():
                if event.get("Type") == event_type:
                    found.append((function_id, event_id, dict(event.get("Properties") or {})))
        return found

    def http_api_logical_id(self) -> str:
        apis = self.resources_of_type("AWS::Serverless::HttpApi")
        if len(apis) != 1:
            raise TemplateError(f"local gateway expects exactly one AWS::Serverless::HttpApi, found {len(apis)}")
        return next(iter(apis))

    def http_api_auth(self) -> tuple[str | None, dict[str, JwtAuthorizer]]:
        auth = self.properties(self.http_api_logical_id()).get("Auth") or {}
        authorizers = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            jwt_config = spec.get("JwtConfiguration")
            if not jwt_config:
                raise TemplateError(f"authorizer {name}: only JWT authorizers are supported locally")
            audience = self.resolve(jwt_config.get("audience") or [])
            authorizers[name] = JwtAuthorizer(
                name=name,
                issuer=str(self.resolve(jwt_config["issuer"])),
                audience=tuple(str(a) for a in (audience if isinstance(audience, list) else [audience])),
                identity_source=str(spec.get("IdentitySource", "$request.header.Authorization")),
            )
        default = auth.get("DefaultAuthorizer")
        return (str(default) if default else None), authorizers

    def http_routes(self) -> list[HttpRoute]:
        default_authorizer, _ = self.http_api_auth()
        routes = []
        for function_id, event_id, props in self._events("HttpApi"):
            auth = props.get("Auth") or {}
            authorizer = auth.get("Authorizer", default_authorizer)
            routes.append(
                HttpRoute(
                    function_id=function_id,
                    event_id=event_id,
                    method=str(props.get("Method", "ANY")).upper(),
                    path=str(props.get("Path", "/{proxy+}")),
                    authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                    authorization_scopes=tuple(auth.get("AuthorizationScopes") or ()),
                )
            )
        return routes

    def cors(self) -> CorsConfig | None:
        cors = self.properties(self.http_api_logical_id()).get("CorsConfiguration")
        if not cors:
            return None
        resolved = self.resolve(cors)

        def strings(key: str) -> tuple[str, ...]:
            values = resolved.get(key) or []
            return tuple(str(v).strip() for v in (values if isinstance(values, list) else [values]) if str(v).strip())

        max_age = resolved.get("MaxAge")
        return CorsConfig(
            allow_origins=strings("AllowOrigins"),
            allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
            allow_headers=tuple(h.lower() for h in strings("AllowHeaders")),
            expose_headers=tuple(h.lower() for h in strings("ExposeHeaders")),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(resolved.get("AllowCredentials", False)),
        )

    def sqs_subscriptions(self) -> list[SqsSubscription]:
        subscriptions = []
        for function_id, event_id, props in self._events("SQS"):
            queue = props.get("Queue")
            queue_id = _referenced_resource(queue)
            if queue_id is None:
                raise TemplateError(f"{function_id}.{event_id}: Queue must be !GetAtt <Queue>.Arn of a template queue")
            subscriptions.append(
                SqsSubscription(
                    function_id=function_id,
                    event_id=event_id,
                    queue_logical_id=queue_id,
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return subscriptions

    def stream_subscriptions(self) -> list[StreamSubscription]:
        subscriptions = []
        for function_id, event_id, props in self._events("DynamoDB"):
            where = f"{function_id}.{event_id}"
            stream = props.get("Stream")
            table_id = _referenced_resource(stream)
            target = stream.get("Fn::GetAtt") if isinstance(stream, dict) else None
            attribute = (target if isinstance(target, list) else str(target).split("."))[-1]
            if table_id is None or attribute != "StreamArn":
                raise TemplateError(f"{where}: Stream must be !GetAtt <Table>.StreamArn of a template table")
            if props.get("StartingPosition") != "TRIM_HORIZON":
                raise TemplateError(f"{where}: the local stream pump starts at TRIM_HORIZON only")
            patterns = []
            for entry in (props.get("FilterCriteria") or {}).get("Filters") or []:
                pattern = json.loads(entry["Pattern"])
                _check_pattern(where, pattern)
                patterns.append(pattern)
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            subscriptions.append(
                StreamSubscription(
                    function_id=function_id,
                    event_id=event_id,
                    table_logical_id=table_id,
                    batch_size=int(props.get("BatchSize", 100)),
                    report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    filter_patterns=tuple(patterns),
                    max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    max_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
                    on_failure_queue_logical_id=_referenced_resource(on_failure) if on_failure else None,
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return subscriptions

    def schedules(self) -> list[ScheduleSpec]:
        specs = []
        for event_type in ("Schedule", "ScheduleV2"):
            for function_id, event_id, props in self._events(event_type):
                expression = props.get("Schedule") or props.get("ScheduleExpression")
                if not expression:
                    raise TemplateError(f"{function_id}.{event_id}: schedule event without an expression")
                enabled = props.get("Enabled", props.get("State", "ENABLED") != "DISABLED")
                raw_input = props.get("Input")
                specs.append(
                    ScheduleSpec(
                        function_id=function_id,
                        event_id=event_id,
                        expression=str(self.resolve(expression)),
                        enabled=bool(self.resolve(enabled)),
                        input=None if raw_input is None else str(self.resolve(raw_input)),
                    )
                )
        return specs


def _referenced_resource(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Ref" in value:
            return str(value["Ref"])
    return None


def _env_text(value: Any) -> str:
    # Lambda environment values are strings; CloudFormation stringifies numbers and booleans the same way.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
