"""What ministack cannot create, deployed elsewhere:
- nat.yaml (NAT gateways, Elastic IPs, private default routes) on moto, on
  the VPC of network.yaml, with prod's NatGateways (and with 1);
- pipeline.yaml: no emulator here creates AWS::CodePipeline::Pipeline from a
  template (ministack refuses it, moto 5.2.5 skips it silently) and moto has
  no AWS::CodeBuild::Project. So everything but the pipeline is deployed to
  ministack and asserted there, and the pipeline's declaration is created
  through moto's CodePipeline API (its properties as the template resolves
  them) and read back from it.
moto skips the resource types it does not know without a word: every
resource must come back CREATE_COMPLETE with a physical id.
"""

import json
import re

import pytest

from cfn import (
    all_resources,
    client,
    create_stack,
    failure_events,
    load_params,
    load_template,
    outputs,
    wait_stack,
    without_resources,
)

pytestmark = pytest.mark.emulator


def condition_value(template, node, parameters):
    """Evaluates a template's condition (Equals, Not, And, Or, Condition and
    Refs to parameters: what the templates deployed on moto use)."""
    if isinstance(node, dict):
        (function, argument), = node.items()
        if function == "Fn::Equals":
            left, right = (condition_value(template, a, parameters) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not condition_value(template, argument[0], parameters)
        if function == "Fn::And":
            return all(condition_value(template, a, parameters) for a in argument)
        if function == "Fn::Or":
            return any(condition_value(template, a, parameters) for a in argument)
        if function == "Condition":
            return condition_value(template, template["Conditions"][argument], parameters)
        if function == "Ref":
            spec = template["Parameters"][argument]
            return parameters.get(argument, spec.get("Default"))
        raise AssertionError(f"condition function {function} not evaluated here")
    return node


def expected_resources(template, parameters):
    return {
        logical
        for logical, resource in template["Resources"].items()
        if "Condition" not in resource
        or condition_value(template, template["Conditions"][resource["Condition"]], parameters)
    }


def deploy(endpoint, name, template, parameters):
    cfn = client("cloudformation", endpoint)
    body = json.dumps(template)
    create_stack(cfn, name, body, parameters)
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (
        f"{name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}\n  "
        + "\n  ".join(failure_events(cfn, name))
    )
    resources = all_resources(cfn, name)
    # moto lists a resource it skipped (an unknown type) as a row without a
    # logical id, a type or a physical id, and so it lists the resources whose
    # condition is false: every resource the template creates under these
    # parameters must be there, complete, with a physical id.
    listed = {path.split("/")[-1]: r for path, r in resources if r.get("LogicalResourceId")}
    expected = expected_resources(template, parameters)
    missing = sorted(expected - set(listed))
    assert not missing, f"{name}: resources the emulator skipped: {missing}"
    bad = [
        f"{logical} ({r['ResourceType']}): {r['ResourceStatus']} physical id {r.get('PhysicalResourceId')!r}"
        for logical, r in listed.items()
        if r["ResourceStatus"] != "CREATE_COMPLETE" or not r.get("PhysicalResourceId")
    ]
    assert not bad, f"{name}: resources the emulator did not create:\n  " + "\n  ".join(bad)
    return cfn, listed


@pytest.mark.parametrize("gateways", ["2", "1"])
def test_nat_gateways_route_the_private_subnets(moto, gateways):
    env = "prod"
    root = load_params(f"{env}.json")["Parameters"]
    if gateways == "2":
        assert root["NatGateways"] == "2", "prod is expected to run a NAT gateway per zone"
    # The VPC is made through the EC2 API: network.yaml is deployed (and
    # checked) on ministack, and moto cannot evaluate its Fn::Cidr.
    ec2 = client("ec2", moto.endpoint)
    vpc = ec2.create_vpc(CidrBlock=root["VpcCidr"])["Vpc"]["VpcId"]
    base = root["VpcCidr"].split("/")[0].rsplit(".", 2)[0]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    net = {}
    for index, zone in enumerate("AB"):
        public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{index * 16}.0/20", AvailabilityZone=zones[index])
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{32 + index * 16}.0/20", AvailabilityZone=zones[index])
        net[f"PublicSubnet{zone}Id"] = public["Subnet"]["SubnetId"]
        net[f"PrivateRouteTable{zone}Id"] = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    nat_params = {
        "Environment": env,
        "NatGateways": gateways,
        "PublicSubnetAId": net["PublicSubnetAId"],
        "PublicSubnetBId": net["PublicSubnetBId"],
        "PrivateRouteTableAId": net["PrivateRouteTableAId"],
        "PrivateRouteTableBId": net["PrivateRouteTableBId"],
    }
    _, resources = deploy(moto.endpoint, f"anote-{env}-nat{gateways}", load_template("nat.yaml"), nat_params)

    nat_ids = [r["PhysicalResourceId"] for r in resources.values() if r["ResourceType"] == "AWS::EC2::NatGateway"]
    assert len(nat_ids) == int(gateways), f"{len(nat_ids)} NAT gateways for NatGateways={gateways}"
    nats = ec2.describe_nat_gateways(NatGatewayIds=nat_ids)["NatGateways"]
    subnets = {n["SubnetId"] for n in nats}
    public = {net["PublicSubnetAId"], net["PublicSubnetBId"]}
    assert subnets <= public, f"NAT gateways in {subnets}, not in the public subnets {public}"
    assert len(subnets) == int(gateways), f"NAT gateways share a subnet: {subnets}"
    for nat in nats:
        assert nat["NatGatewayAddresses"] and nat["NatGatewayAddresses"][0].get("AllocationId"), f"{nat['NatGatewayId']} has no Elastic IP"

    for table in (net["PrivateRouteTableAId"], net["PrivateRouteTableBId"]):
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        default = [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        assert len(default) == 1 and default[0].get("NatGatewayId") in nat_ids, (
            f"private route table {table}: default route {default}, expected one through {nat_ids}"
        )
    if gateways == "2":
        tables = [net["PrivateRouteTableAId"], net["PrivateRouteTableBId"]]
        gateways_used = set()
        for table in tables:
            for route in ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]:
                if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                    gateways_used.add(route["NatGatewayId"])
        assert len(gateways_used) == 2, f"with a gateway per zone each zone routes through its own: {gateways_used}"


# ---- the pipeline ----------------------------------------------------------------------

STAGES = ["Source", "Build", "Dev", "Staging", "Approval", "Prod"]


@pytest.fixture(scope="module")
def pipeline_resources(ministack):
    template = without_resources(load_template("pipeline.yaml"), {"AWS::CodePipeline::Pipeline"})
    parameters = load_params("pipeline.json")["Parameters"]
    cfn, resources = deploy(ministack.endpoint, "anote-pipeline", template, parameters)
    return cfn, resources


def test_pipeline_resources_deploy(ministack, pipeline_resources):
    _, resources = pipeline_resources
    ecr = client("ecr", ministack.endpoint)
    repository = ecr.describe_repositories(repositoryNames=[resources["ImageRepository"]["PhysicalResourceId"]])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE", "image tags must be immutable (one commit, one image)"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True, "images are not scanned on push"
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"])
    assert policy["rules"], "the repository has no lifecycle rules"

    s3 = client("s3", ministack.endpoint)
    bucket = resources["ArtifactBucket"]["PhysicalResourceId"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.get(k) is True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")), block
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in statements
    ), f"artifact bucket {bucket} accepts requests without TLS"

    codebuild = client("codebuild", ministack.endpoint)
    names = [resources[k]["PhysicalResourceId"] for k in ("BuildProject", "DeployProject", "MigrateProject", "SmokeProject")]
    projects = {p["name"]: p for p in codebuild.batch_get_projects(names=names)["projects"]}
    assert set(projects) == set(names), f"CodeBuild projects {sorted(projects)}, expected {names}"
    buildspecs = {name: p["source"].get("buildspec") for name, p in projects.items()}
    repo_files = {
        "buildspec.yml",
        "deploy/buildspec-deploy.yml",
        "deploy/buildspec-migrate.yml",
        "deploy/buildspec-smoke.yml",
    }
    assert set(buildspecs.values()) == repo_files, f"buildspecs {buildspecs}"
    from cfn import REPO

    for path in repo_files:
        assert (REPO / path).is_file(), f"{path} (a project's buildspec) is not in the repository"
    privileged = sorted(n for n, p in projects.items() if p["environment"].get("privilegedMode"))
    assert privileged == [resources["BuildProject"]["PhysicalResourceId"]], f"privileged projects: {privileged} (only the image build needs Docker)"


def resolve(node, resources, parameters):
    """The pipeline's properties with the Refs and GetAtts of pipeline.yaml
    replaced by what ministack created."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            name = node["Ref"]
            if name in parameters:
                return parameters[name]
            return resources[name]["PhysicalResourceId"]
        if set(node) == {"Fn::GetAtt"}:
            name, attribute = node["Fn::GetAtt"]
            physical = resources[name]["PhysicalResourceId"]
            if attribute == "Arn":
                kind = resources[name]["ResourceType"]
                if kind == "AWS::IAM::Role":
                    return f"arn:aws:iam::123456789012:role/{physical}"
                if kind == "AWS::KMS::Key":
                    return f"arn:aws:kms:eu-central-1:123456789012:key/{physical}"
            return physical
        return {k: resolve(v, resources, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, resources, parameters) for v in node]
    return node


def api_value(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def camel(node):
    """CloudFormation's property names -> the CodePipeline API's."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            api_key = key[0].lower() + key[1:]
            if key == "Configuration":  # action configuration keys stay as they are
                out[api_key] = {k: api_value(v) for k, v in value.items()}
            else:
                out[api_key] = camel(value)
        return out
    if isinstance(node, list):
        return [camel(v) for v in node]
    return node


def test_pipeline_promotes_dev_staging_approval_prod(moto, pipeline_resources):
    _, resources = pipeline_resources
    template = load_template("pipeline.yaml")
    declared = {k: v.get("Default") for k, v in template["Parameters"].items()}
    pseudo = {"AWS::AccountId": "123456789012", "AWS::Region": "eu-central-1", "AWS::Partition": "aws"}
    parameters = {**declared, **load_params("pipeline.json")["Parameters"], **pseudo}
    properties = resolve(template["Resources"]["Pipeline"]["Properties"], resources, parameters)
    declaration = camel({k: v for k, v in properties.items() if k in ("Name", "RoleArn", "ArtifactStore", "Stages", "PipelineType", "ExecutionMode")})
    # The pipeline's role, as pipeline.yaml declares its trust, in moto's IAM:
    # moto refuses a pipeline whose role CodePipeline may not assume.
    trust = resolve(template["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"], resources, parameters)
    for statement in trust["Statement"]:
        statement.pop("Condition", None)  # aws:SourceAccount: moto's IAM evaluates no conditions
    iam = client("iam", moto.endpoint)
    role = iam.create_role(RoleName="anote-pipeline-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    declaration["roleArn"] = role["Arn"]
    codepipeline = client("codepipeline", moto.endpoint)
    codepipeline.create_pipeline(pipeline=declaration)
    pipeline = codepipeline.get_pipeline(name=declaration["name"])["pipeline"]

    stages = [s["name"] for s in pipeline["stages"]]
    assert stages == STAGES, f"stages {stages}, expected {STAGES}"
    by_name = {s["name"]: s for s in pipeline["stages"]}

    source = by_name["Source"]["actions"][0]
    assert source["actionTypeId"]["provider"] == "CodeStarSourceConnection"
    assert source["configuration"]["BranchName"] == parameters["BranchName"] == "main"
    assert source["configuration"]["ConnectionArn"] == parameters["ConnectionArn"]

    build = by_name["Build"]["actions"][0]
    assert build["configuration"]["ProjectName"] == resources["BuildProject"]["PhysicalResourceId"]
    build_env = json.loads(build["configuration"]["EnvironmentVariables"])
    assert {"name": "IMAGE_TAG", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"} in build_env, build_env

    steps = [("Deploy", "DeployProject"), ("Migrate", "MigrateProject"), ("Smoke", "SmokeProject")]
    for stage, env in (("Dev", "dev"), ("Staging", "staging"), ("Prod", "prod")):
        actions = sorted(by_name[stage]["actions"], key=lambda a: a["runOrder"])
        assert [a["name"] for a in actions] == [s for s, _ in steps], f"{stage}: actions {[a['name'] for a in actions]}"
        assert [a["runOrder"] for a in actions] == [1, 2, 3], f"{stage}: deploy, migrate and smoke must run one after the other"
        for action, (_, project) in zip(actions, steps):
            assert action["configuration"]["ProjectName"] == resources[project]["PhysicalResourceId"], action
            variables = json.loads(action["configuration"]["EnvironmentVariables"])
            assert {"name": "ANOTE_ENV", "value": env, "type": "PLAINTEXT"} in variables, f"{stage}/{action['name']}: {variables}"
        deploy_inputs = {a["name"] for a in actions[0]["inputArtifacts"]}
        assert deploy_inputs == {"Source", "Image"}, f"{stage}/Deploy gets {deploy_inputs}, not the source and the built image"

    approval = by_name["Approval"]["actions"][0]
    assert approval["actionTypeId"]["category"] == "Approval" and approval["actionTypeId"]["provider"] == "Manual"
    assert approval["configuration"]["NotificationArn"] == resources["ApprovalTopic"]["PhysicalResourceId"]


def test_buildspecs_name_the_pipeline_contract():
    import yaml

    from cfn import REPO

    for path in ("buildspec.yml", "deploy/buildspec-deploy.yml", "deploy/buildspec-migrate.yml", "deploy/buildspec-smoke.yml"):
        spec = yaml.safe_load((REPO / path).read_text())
        assert spec["version"] == 0.2, f"{path}: buildspec version {spec['version']}"
        assert spec["phases"]["build"]["commands"], f"{path} has no build commands"
        assert spec.get("env", {}).get("shell") == "bash", f"{path}: commands are written for bash"
        for phase in spec["phases"].values():
            assert all(isinstance(c, str) for c in phase.get("commands", [])), f"{path}: a command is not a string"

    build = (REPO / "buildspec.yml").read_text()
    for needle in ("scripts/test.sh", "docker push", "image.json", "IMAGE_TAG", "get-login-password"):
        assert needle in build, f"buildspec.yml does not mention {needle}"
    deploy_spec = (REPO / "deploy/buildspec-deploy.yml").read_text()
    assert re.search(r"deploy/deploy\.sh \"\$ANOTE_ENV\"", deploy_spec), "the deploy action does not run deploy/deploy.sh $ANOTE_ENV"
    assert "CODEBUILD_SRC_DIR_Image/image.json" in deploy_spec, "the deploy action does not read the built image's URI"
    migrate = (REPO / "deploy/buildspec-migrate.yml").read_text()
    for needle in ("ecs run-task", "tasks-stopped", "exitCode", 'test "$EXIT_CODE" = 0'):
        assert needle in migrate, f"deploy/buildspec-migrate.yml does not mention {needle}"
    smoke = (REPO / "deploy/buildspec-smoke.yml").read_text()
    assert "/readyz" in smoke and "--fail" in smoke, "the smoke action does not fail on a /readyz that is not ready"
