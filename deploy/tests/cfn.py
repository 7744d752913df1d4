"""Helpers of the template checks: reading templates and parameter files,
packaging the root stack's nested templates to an emulator's S3 (what
`aws cloudformation package` does on AWS), creating stacks and walking their
resources, nested stacks included."""

import json
import os
import re
import time
from pathlib import Path

from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
# ANOTE_TEMPLATES_DIR: check a copy (for example one broken on purpose).
TEMPLATES = Path(os.environ.get("ANOTE_TEMPLATES_DIR") or REPO / "deploy" / "cloudformation")
PARAMS = TEMPLATES / "params"
ENVIRONMENTS = ("dev", "staging", "prod")
REGION = "eu-central-1"

# Parameter file -> the template it configures.
PARAMETER_FILES = {
    **{f"{env}.json": "anote.yaml" for env in ENVIRONMENTS},
    **{f"scaling-{env}.json": "scaling.yaml" for env in ENVIRONMENTS},
    "pipeline.json": "pipeline.yaml",
}


def load_template(name):
    """The template as plain JSON-able data (intrinsics in long form)."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATES / name))))


def load_params(name):
    return json.loads((PARAMS / name).read_text())


def client(service, endpoint):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def package_root(s3, endpoint, bucket, prefix):
    """Uploads the nested templates anote.yaml names and returns the root
    template's text with their TemplateURLs pointing at the uploads."""
    root = (TEMPLATES / "anote.yaml").read_text()

    def upload(match):
        name = match.group(2)
        key = f"{prefix}/{name}"
        s3.put_object(Bucket=bucket, Key=key, Body=(TEMPLATES / name).read_bytes())
        return f"{match.group(1)}{endpoint}/{bucket}/{key}"

    packaged, count = re.subn(r"(TemplateURL:\s*)([A-Za-z0-9_.-]+\.yaml)\b", upload, root)
    assert count >= 5, f"anote.yaml names {count} nested templates, expected at least 5"
    return packaged


def create_stack(cfn, name, body, parameters):
    cfn.create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )


def wait_stack(cfn, name, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {name} still {stack['StackStatus']} after {timeout} s")
        time.sleep(0.5)


def failure_events(cfn, name, limit=15):
    """The events that say why a stack failed, nested stacks included."""
    lines = []
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except Exception as error:  # the stack may be gone
        return [f"{name}: no events ({error})"]
    for event in events:
        if event["ResourceStatus"].endswith("FAILED"):
            lines.append(
                f"{name}/{event['LogicalResourceId']} ({event['ResourceType']}): "
                f"{event['ResourceStatus']} {event.get('ResourceStatusReason', '')}"
            )
    return lines[:limit]


def all_resources(cfn, stack_name, path=None):
    """Every resource of a stack and of its nested stacks, as
    (path, summary) pairs; path names the nesting (Root/Data/EventDb)."""
    path = path or stack_name
    found = []
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            here = f"{path}/{summary['LogicalResourceId']}"
            found.append((here, summary))
            if summary["ResourceType"] == "AWS::CloudFormation::Stack" and summary.get("PhysicalResourceId"):
                found.extend(all_resources(cfn, summary["PhysicalResourceId"], here))
    return found


def outputs(cfn, stack_name):
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def nested_stack_id(cfn, stack_name, logical_id):
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary["LogicalResourceId"] == logical_id:
                return summary["PhysicalResourceId"]
    raise AssertionError(f"{stack_name} has no nested stack {logical_id}")


def without_resources(template, drop_types, stand_ins=None):
    """A copy of the template without the resources of drop_types; a Ref or
    Fn::GetAtt of a dropped resource becomes stand_ins(resource, attribute)."""
    dropped = {k: v for k, v in template["Resources"].items() if v["Type"] in drop_types}
    copy = json.loads(json.dumps(template))
    for key in dropped:
        del copy["Resources"][key]

    def refers_to_dropped(node):
        text = json.dumps(node)
        return any(f'"Ref": "{k}"' in text or f'"Fn::GetAtt": ["{k}"' in text for k in dropped)

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in dropped:
                return stand_ins(dropped[node["Ref"]], None)
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in dropped:
                return stand_ins(dropped[node["Fn::GetAtt"][0]], node["Fn::GetAtt"][1])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    if stand_ins is None:
        copy["Outputs"] = {k: v for k, v in copy.get("Outputs", {}).items() if not refers_to_dropped(v)}
    else:
        copy = walk(copy)
    return copy
