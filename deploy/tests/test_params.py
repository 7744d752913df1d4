"""Parameter files and the interfaces between the templates, checked
statically: what CloudFormation would refuse at deploy time (an unknown or a
missing parameter, a value outside AllowedValues) fails here first."""

import json
import re

import pytest

from cfn import PARAMETER_FILES, PARAMS, TEMPLATES, load_params, load_template


def test_every_parameter_file_is_mapped_to_a_template():
    files = sorted(p.name for p in PARAMS.glob("*.json"))
    unknown = [f for f in files if f not in PARAMETER_FILES]
    missing = [f for f in PARAMETER_FILES if f not in files]
    assert not unknown, f"parameter files without a template: {unknown}"
    assert not missing, f"parameter files missing: {missing}"


def check_value(name, spec, value):
    """Why value would be refused for the parameter spec, or None."""
    if not isinstance(value, str):
        return f"{name}: {value!r} is not a string (template-configuration files hold strings)"
    kind = spec.get("Type", "String")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{name}: {value!r} is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{name}: {value} < MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{name}: {value} > MaxValue {spec['MaxValue']}"
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return f"{name}: {value!r} not in AllowedValues {spec['AllowedValues']}"
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return f"{name}: {value!r} does not match AllowedPattern {spec['AllowedPattern']}"
    return None


@pytest.mark.parametrize("file", sorted(PARAMETER_FILES))
def test_parameter_file_matches_its_template(file):
    template = PARAMETER_FILES[file]
    config = load_params(file)
    assert set(config) <= {"Parameters", "Tags", "StackPolicy"}, f"{file}: unknown sections {set(config)}"
    values = config["Parameters"]
    declared = load_template(template).get("Parameters", {})

    unknown = sorted(set(values) - set(declared))
    assert not unknown, f"{file} sets parameters that {template} does not declare: {unknown}"
    required = sorted(k for k, spec in declared.items() if "Default" not in spec)
    unset = [k for k in required if k not in values]
    assert not unset, f"{file} leaves parameters of {template} without a default unset: {unset}"
    refused = [r for r in (check_value(k, declared[k], v) for k, v in values.items()) if r]
    assert not refused, f"{file}: values {template} would refuse:\n  " + "\n  ".join(refused)

    tags = config.get("Tags", {})
    assert all(isinstance(v, str) for v in tags.values()), f"{file}: tag values must be strings"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_environment_files_name_their_environment(env):
    for file in (f"{env}.json", f"scaling-{env}.json"):
        assert load_params(file)["Parameters"]["Environment"] == env, f"{file}: Environment is not {env}"


def test_nested_stacks_get_exactly_their_parameters():
    root = load_template("anote.yaml")
    nested = {k: r for k, r in root["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"}
    assert nested, "anote.yaml has no nested stacks"
    problems = []
    for logical, resource in nested.items():
        url = resource["Properties"]["TemplateURL"]
        assert (TEMPLATES / url).is_file(), f"{logical}: TemplateURL {url} is not a file of deploy/cloudformation"
        declared = load_template(url).get("Parameters", {})
        passed = resource["Properties"].get("Parameters", {})
        extra = sorted(set(passed) - set(declared))
        missing = sorted(k for k, s in declared.items() if "Default" not in s and k not in passed)
        if extra:
            problems.append(f"{logical} ({url}) is passed parameters it does not declare: {extra}")
        if missing:
            problems.append(f"{logical} ({url}) is not passed its required parameters: {missing}")
    assert not problems, "\n".join(problems)


def test_scaling_imports_what_the_root_exports():
    root = load_template("anote.yaml")
    exports = set()
    for output in root.get("Outputs", {}).values():
        name = output.get("Export", {}).get("Name", {})
        if isinstance(name, dict) and "Fn::Sub" in name:
            exports.add(name["Fn::Sub"])
    imports = set()

    def walk(node):
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                value = node["Fn::ImportValue"]
                imports.add(value["Fn::Sub"] if isinstance(value, dict) else value)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(load_template("scaling.yaml"))
    assert imports, "scaling.yaml imports nothing"
    missing = sorted(imports - exports)
    assert not missing, f"scaling.yaml imports names anote.yaml does not export: {missing}"


def test_scaling_minimums_match_the_morning_counts():
    """The nights-off schedule gives each scalable target its minimum back as
    the root's desired count; a different scaling minimum would be reset."""
    for env in ("dev", "staging"):
        root = load_params(f"{env}.json")["Parameters"]
        scaling = load_params(f"scaling-{env}.json")["Parameters"]
        for service in ("CommandApi", "QueryApi", "Projector"):
            assert scaling[f"{service}Min"] == root[f"{service}DesiredCount"], (
                f"{env}: {service}Min {scaling[f'{service}Min']} in scaling-{env}.json but "
                f"{service}DesiredCount {root[f'{service}DesiredCount']} in {env}.json"
            )


def test_projector_maximum_is_the_shard_count():
    scaling = load_template("scaling.yaml")
    maximum = scaling["Resources"]["ProjectorTarget"]["Properties"]["MaxCapacity"]
    assert maximum == {"Fn::ImportValue": {"Fn::Sub": "anote-${Environment}-ShardCount"}}, maximum
    for env in ("dev", "staging", "prod"):
        root = load_params(f"{env}.json")["Parameters"]
        scaling_params = load_params(f"scaling-{env}.json")["Parameters"]
        assert int(scaling_params["ProjectorMin"]) <= int(root["ShardCount"]), (
            f"{env}: ProjectorMin above the shard count {root['ShardCount']}"
        )


def test_exam_weeks_parse():
    for env in ("dev", "staging", "prod"):
        weeks = load_params(f"scaling-{env}.json")["Parameters"].get("ExamWeeks", "")
        for period in filter(None, weeks.split(",")):
            start, end = period.split("/")
            assert start < end, f"scaling-{env}.json: exam period {period} ends before it starts"


def test_parameter_files_are_json_objects_of_strings():
    for path in PARAMS.glob("*.json"):
        data = json.loads(path.read_text())
        for key, value in data["Parameters"].items():
            assert isinstance(value, str), f"{path.name}: {key} is {type(value).__name__}, not a string"


# ---- scaling.yaml, evaluated (no emulator creates Application Auto Scaling) ----


class Evaluator:
    """Resolves the intrinsic functions scaling.yaml uses, for given
    parameters; imports resolve to "import:<name>"."""

    def __init__(self, template, parameters):
        self.template = template
        self.parameters = {
            k: parameters.get(k, spec.get("Default")) for k, spec in template["Parameters"].items()
        }

    def condition(self, name):
        return self.value(self.template["Conditions"][name])

    def value(self, node):
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref", "Condition")):
            return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}
        (function, argument), = node.items()
        if function == "Ref":
            if argument == "AWS::NoValue":
                return NO_VALUE
            return self.parameters[argument] if argument in self.parameters else f"ref:{argument}"
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::If":
            name, yes, no = argument
            return self.value(yes if self.condition(name) else no)
        if function == "Fn::Equals":
            left, right = self.value(argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.value(argument[0])
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(p) for p in self.value(parts))
        if function == "Fn::Split":
            separator, text = argument
            return self.value(text).split(separator)
        if function == "Fn::Select":
            index, items = argument
            items = self.value(items)
            assert int(index) < len(items), f"Fn::Select {index} of {items}: CloudFormation would fail"
            return items[int(index)]
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = {k: self.value(v) for k, v in variables.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(variables.get(m.group(1), self.parameters.get(m.group(1)))), text)
        if function == "Fn::ImportValue":
            return f"import:{self.value(argument)}"
        raise AssertionError(f"{function} is not evaluated here")


NO_VALUE = object()


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_exam_weeks_become_scheduled_minimums(env):
    template = load_template("scaling.yaml")
    parameters = load_params(f"scaling-{env}.json")["Parameters"]
    evaluator = Evaluator(template, parameters)
    periods = [p.split("/") for p in filter(None, parameters.get("ExamWeeks", "").split(","))]
    for target, normal, exam in (
        ("QueryApiTarget", "QueryApiMin", "QueryApiExamMin"),
        ("CommandApiTarget", "CommandApiMin", "CommandApiExamMin"),
    ):
        properties = evaluator.value(template["Resources"][target]["Properties"])
        actions = properties.get("ScheduledActions", [])
        assert len(actions) == 2 * len(periods), f"{env} {target}: {len(actions)} scheduled actions for {len(periods)} exam periods"
        for number, (start, end) in enumerate(periods, 1):
            by_name = {a["ScheduledActionName"]: a for a in actions}
            up, down = by_name[f"exam-week-{number}-up"], by_name[f"exam-week-{number}-down"]
            assert up["Schedule"] == f"at({start}T12:00:00)", up
            assert down["Schedule"] == f"at({end}T12:00:00)", down
            assert str(up["ScalableTargetAction"]["MinCapacity"]) == parameters[exam]
            assert str(down["ScalableTargetAction"]["MinCapacity"]) == parameters[normal]
            assert up["Timezone"] == down["Timezone"] == parameters.get("ScheduleTimezone", "Europe/Berlin")


def test_four_exam_weeks_at_most():
    template = load_template("scaling.yaml")
    parameters = dict(load_params("scaling-prod.json")["Parameters"])
    weeks = ",".join(f"2027-0{m}-01/2027-0{m}-08" for m in range(1, 5))
    parameters["ExamWeeks"] = weeks
    assert check_value("ExamWeeks", template["Parameters"]["ExamWeeks"], weeks) is None
    evaluator = Evaluator(template, parameters)
    actions = evaluator.value(template["Resources"]["QueryApiTarget"]["Properties"])["ScheduledActions"]
    assert len(actions) == 8, actions
    five = weeks + ",2027-06-01/2027-06-08"
    assert check_value("ExamWeeks", template["Parameters"]["ExamWeeks"], five), "a fifth exam week is accepted but never scheduled"


def test_scaling_policies_track_the_intended_metrics():
    template = load_template("scaling.yaml")
    evaluator = Evaluator(template, load_params("scaling-prod.json")["Parameters"])
    resources = {k: evaluator.value(v) for k, v in template["Resources"].items()}
    targets = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"}
    assert {t["ResourceId"] for t in targets.values()} == {
        f"service/import:anote-prod-ClusterName/import:anote-prod-{s}ServiceName" for s in ("CommandApi", "QueryApi", "Projector")
    }, "scalable targets other than the command API, query API and projector (the relay is not scaled)"
    policies = {r["Properties"]["ScalingTargetId"]: r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
                and r["Properties"]["PolicyType"] == "TargetTrackingScaling"}
    query = policies["ref:QueryApiTarget"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert query["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert query["ResourceLabel"] == "import:anote-prod-LoadBalancerFullName/import:anote-prod-QueryApiTargetGroupFullName"
    command = policies["ref:CommandApiTarget"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert command["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    lag_alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert lag_alarms and all(a["MetricName"] == "ProjectionLagSeconds" and a["Namespace"] == "Anote" for a in lag_alarms)
    assert all({d["Name"]: d["Value"] for d in a["Dimensions"]} == {"Environment": "prod", "Service": "projector"} for a in lag_alarms)
