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
