"""The root stack (anote.yaml and its nested stacks) of dev, staging and prod
deployed to ministack, and what matters asserted from ministack's own APIs.

Emulator differences (the templates stay as on AWS):
- ministack has no NAT gateway: prod deploys with NatGateways=0 here and
  nat.yaml is checked on moto (test_moto.py);
- its RDS instances have no managed master secret: the root's
  EmulatorStandIns=true (when the root declares it) swaps in stand-in
  secrets, so the secret wiring is still deployed and checked;
- metric-math alarms are recorded by ministack_server.py (see there).
"""

import json

import pytest

from cfn import (
    ENVIRONMENTS,
    all_resources,
    client,
    create_stack,
    failure_events,
    load_params,
    load_template,
    nested_stack_id,
    outputs,
    package_root,
    wait_stack,
)

pytestmark = pytest.mark.emulator

SERVICES = ("command-api", "query-api", "projector", "relay")
TASKS = SERVICES + ("migrate",)


class Deployment:
    """One environment's root stack on ministack and what it created."""

    def __init__(self, endpoint, env):
        self.endpoint = endpoint
        self.env = env
        self.stack_name = f"anote-{env}"
        self.cfn = client("cloudformation", endpoint)

    def client(self, service):
        return client(service, self.endpoint)

    def nested_outputs(self, logical_id):
        return outputs(self.cfn, nested_stack_id(self.cfn, self.stack_name, logical_id))


@pytest.fixture(scope="module")
def deployments(ministack):
    s3 = client("s3", ministack.endpoint)
    cfn = client("cloudformation", ministack.endpoint)
    bucket = "anote-templates"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    declared = load_template("anote.yaml")["Parameters"]
    started = {}
    for env in ENVIRONMENTS:
        body = package_root(s3, ministack.endpoint, bucket, f"anote-{env}")
        parameters = load_params(f"{env}.json")["Parameters"]
        parameters["NatGateways"] = "0"  # ministack has no NAT gateway
        if "EmulatorStandIns" in declared:
            parameters["EmulatorStandIns"] = "true"
        create_stack(cfn, f"anote-{env}", body, parameters)
        started[env] = Deployment(ministack.endpoint, env)
    failures = []
    for env, deployment in started.items():
        stack = wait_stack(cfn, deployment.stack_name)
        if stack["StackStatus"] != "CREATE_COMPLETE":
            failures.append(
                f"anote-{env}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}\n    "
                + "\n    ".join(failure_events(cfn, deployment.stack_name))
            )
    if failures:
        pytest.fail("root stacks failed on ministack:\n  " + "\n  ".join(failures) + "\n" + ministack.tail(20))
    return started


@pytest.fixture(params=ENVIRONMENTS)
def deployment(request, deployments):
    return deployments[request.param]


# ---- the stack itself ------------------------------------------------------------


def test_every_resource_is_created(deployment):
    resources = all_resources(deployment.cfn, deployment.stack_name)
    assert len(resources) > 50, f"only {len(resources)} resources in {deployment.stack_name}"
    bad = [
        f"{path} ({r['ResourceType']}): {r['ResourceStatus']} {r.get('ResourceStatusReason', '')}"
        for path, r in resources
        if r["ResourceStatus"] != "CREATE_COMPLETE" or not r.get("PhysicalResourceId")
    ]
    assert not bad, "resources not created (or without a physical id):\n  " + "\n  ".join(bad)


def test_nested_stacks_per_environment(deployment):
    nested = {
        path.split("/")[-1]
        for path, r in all_resources(deployment.cfn, deployment.stack_name)
        if r["ResourceType"] == "AWS::CloudFormation::Stack" and path.count("/") == 1
    }
    expected = {"Network", "Data", "Services", "Observability"}
    if deployment.env != "prod":
        expected.add("Schedule")
    assert expected <= nested, f"{deployment.stack_name}: nested stacks {sorted(nested)}, expected {sorted(expected)}"
    if deployment.env == "prod":
        assert "Schedule" not in nested, "prod must not have the nights-off schedule stack"


# ---- load balancer: routing by method --------------------------------------------


def test_listener_routes_reads_to_the_query_api(deployment):
    elb = deployment.client("elbv2")
    ecs = deployment.client("ecs")
    svc = deployment.nested_outputs("Services")
    cluster = svc["ClusterName"]
    # The target group each API service registers its tasks in.
    described = ecs.describe_services(cluster=cluster, services=[svc["CommandApiServiceName"], svc["QueryApiServiceName"]])
    groups = {s["serviceName"]: s["loadBalancers"][0]["targetGroupArn"] for s in described["services"]}
    command_tg = groups[svc["CommandApiServiceName"]]
    query_tg = groups[svc["QueryApiServiceName"]]
    assert command_tg != query_tg, "both APIs register in the same target group"

    names = {
        tg["TargetGroupArn"]: tg["TargetGroupName"]
        for tg in elb.describe_target_groups(TargetGroupArns=[command_tg, query_tg])["TargetGroups"]
    }
    full_names = {svc["CommandApiTargetGroupFullName"], svc["QueryApiTargetGroupFullName"]}
    for arn in (command_tg, query_tg):
        assert any(arn.endswith(f) for f in full_names), f"target group {arn} is not one the Services stack outputs"

    lbs = [lb for lb in elb.describe_load_balancers()["LoadBalancers"] if svc["LoadBalancerFullName"].endswith(lb["LoadBalancerArn"].split("/", 1)[1].split("loadbalancer/", 1)[-1])]
    assert len(lbs) == 1, f"the load balancer {svc['LoadBalancerFullName']} is not found"
    listeners = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    by_port = {l["Port"]: l for l in listeners}
    assert set(by_port) == {80, 443}, f"listeners on ports {sorted(by_port)}, expected 80 and 443"

    http_default = by_port[80]["DefaultActions"][0]
    assert http_default["Type"] == "redirect", f"HTTP listener's default action is {http_default['Type']}, not a redirect"
    assert http_default["RedirectConfig"]["Protocol"] == "HTTPS", http_default
    assert by_port[443]["Protocol"] == "HTTPS" and by_port[443].get("Certificates"), "port 443 is not HTTPS with a certificate"

    https = by_port[443]
    rules = elb.describe_rules(ListenerArn=https["ListenerArn"])["Rules"]
    default = [r for r in rules if r["IsDefault"]]
    assert len(default) == 1
    assert forward_target(default[0]["Actions"]) == command_tg, (
        f"the default action goes to {names.get(forward_target(default[0]['Actions']))}, "
        f"not the command API's {names[command_tg]}"
    )
    method_rules = [r for r in rules if not r["IsDefault"] and methods_of(r)]
    to_query = [r for r in method_rules if forward_target(r["Actions"]) == query_tg]
    assert to_query, f"no rule forwards by method to the query API's target group {names[query_tg]}"
    for rule in to_query:
        assert methods_of(rule) == {"GET", "HEAD"}, f"rule {rule['Priority']} sends {methods_of(rule)} to the query API"
        paths = [c for c in rule["Conditions"] if c["Field"] != "http-request-method"]
        assert not paths, f"rule {rule['Priority']} also requires {paths}: not every GET/HEAD reaches the query API"
    for rule in rules:
        if not rule["IsDefault"] and forward_target(rule["Actions"]) == command_tg:
            assert not ({"GET", "HEAD"} & methods_of(rule)), f"rule {rule['Priority']} sends reads to the command API"


def forward_target(actions):
    for action in actions:
        if action["Type"] == "forward":
            if action.get("TargetGroupArn"):
                return action["TargetGroupArn"]
            groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
            if len(groups) == 1:
                return groups[0]["TargetGroupArn"]
    return None


def methods_of(rule):
    values = set()
    for condition in rule["Conditions"]:
        if condition["Field"] == "http-request-method":
            values |= set(condition.get("HttpRequestMethodConfig", {}).get("Values", []) or condition.get("Values", []))
    return values


def test_target_groups_check_health_and_drain_like_the_services(deployment):
    elb = deployment.client("elbv2")
    svc = deployment.nested_outputs("Services")
    groups = [
        tg
        for tg in elb.describe_target_groups()["TargetGroups"]
        if any(tg["TargetGroupArn"].endswith(f) for f in (svc["CommandApiTargetGroupFullName"], svc["QueryApiTargetGroupFullName"]))
    ]
    assert len(groups) == 2, groups
    for tg in groups:
        assert tg["HealthCheckPath"] == "/healthz", f"{tg['TargetGroupName']} checks {tg['HealthCheckPath']}"
        assert tg["TargetType"] == "ip", f"{tg['TargetGroupName']}: Fargate tasks register by ip"
        attributes = {
            a["Key"]: a["Value"]
            for a in elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
        }
        delay = int(attributes.get("deregistration_delay.timeout_seconds", "300"))
        assert 30 < delay < 40, f"{tg['TargetGroupName']}: deregistration delay {delay} s, not between the drain (30 s) and the stop timeout (40 s)"


# ---- nights off ---------------------------------------------------------------------


def schedules_of(deployment):
    scheduler = deployment.client("scheduler")
    found = {}
    for page in scheduler.get_paginator("list_schedules").paginate():
        for entry in page["Schedules"]:
            detail = scheduler.get_schedule(Name=entry["Name"], GroupName=entry.get("GroupName", "default"))
            found[entry["Name"]] = detail
    return found


def test_nights_off_in_dev_and_staging_only(deployment):
    everything = schedules_of(deployment)
    svc = deployment.nested_outputs("Services")
    data = deployment.nested_outputs("Data")
    cluster = svc["ClusterName"]
    mine = {n: s for n, s in everything.items() if json.loads(s["Target"].get("Input") or "{}").get("Cluster") == cluster
            or cluster in (json.loads(s["Target"].get("Input") or "{}").get("ResourceId") or "")
            or json.loads(s["Target"].get("Input") or "{}").get("DbInstanceIdentifier") in (data["EventDbInstanceId"], data["ReadDbInstanceId"])}
    if deployment.env == "prod":
        assert not mine, f"prod has schedules: {sorted(mine)}"
        return
    assert mine, f"{deployment.env} has no nights-off schedules"
    root = load_params(f"{deployment.env}.json")["Parameters"]
    for schedule in mine.values():
        assert schedule["FlexibleTimeWindow"]["Mode"] == "OFF", f"{schedule['Name']}: flexible time window"
        assert schedule["State"] == "ENABLED", f"{schedule['Name']} is {schedule['State']}"

    def calls(action, key, value):
        return [
            s for s in mine.values()
            if s["Target"]["Arn"].endswith(action) and json.loads(s["Target"]["Input"]).get(key) == value
        ]

    for service, count_key in zip(
        (svc[k] for k in ("CommandApiServiceName", "QueryApiServiceName", "ProjectorServiceName", "RelayServiceName")),
        ("CommandApiDesiredCount", "QueryApiDesiredCount", "ProjectorDesiredCount", "RelayDesiredCount"),
    ):
        updates = calls(":ecs:updateService", "Service", service)
        counts = sorted(json.loads(s["Target"]["Input"])["DesiredCount"] for s in updates)
        assert counts == [0, int(root[count_key])], (
            f"{deployment.env} {service}: updateService schedules set {counts}, expected [0, {root[count_key]}] (night, morning)"
        )
        stop = next(s for s in updates if json.loads(s["Target"]["Input"])["DesiredCount"] == 0)
        start = next(s for s in updates if json.loads(s["Target"]["Input"])["DesiredCount"] != 0)
        assert stop["ScheduleExpression"] == root["StopCron"], f"{service} stops at {stop['ScheduleExpression']}"
        assert hour_of(start["ScheduleExpression"]) == hour_of(root["StartCron"]) and minute_of(start["ScheduleExpression"]) > minute_of(root["StartCron"]), (
            f"{service} starts at {start['ScheduleExpression']}, not after the databases ({root['StartCron']})"
        )
        scaling = calls(":applicationautoscaling:registerScalableTarget", "ResourceId", f"service/{cluster}/{service}")
        if service != svc["RelayServiceName"]:
            minimums = sorted(json.loads(s["Target"]["Input"])["MinCapacity"] for s in scaling)
            assert minimums == [0, int(root[count_key])], f"{service}: scalable target minimums {minimums}"
        else:
            assert not scaling, "the relay is not scaled, yet a schedule registers a scalable target for it"

    instances = [data["EventDbInstanceId"]] + ([data["ReadDbInstanceId"]] if data["ReadDbInstanceId"] else [])
    rds = deployment.client("rds")
    for instance in instances:
        rds.describe_db_instances(DBInstanceIdentifier=instance)  # it exists
        stops = calls(":rds:stopDBInstance", "DbInstanceIdentifier", instance)
        starts = calls(":rds:startDBInstance", "DbInstanceIdentifier", instance)
        assert len(stops) == 1 and len(starts) == 1, f"{instance}: {len(stops)} stop and {len(starts)} start schedules"
        assert starts[0]["ScheduleExpression"] == root["StartCron"], f"{instance} starts at {starts[0]['ScheduleExpression']}"
        assert hour_of(stops[0]["ScheduleExpression"]) == hour_of(root["StopCron"]) and minute_of(stops[0]["ScheduleExpression"]) > minute_of(root["StopCron"]), (
            f"{instance} stops at {stops[0]['ScheduleExpression']}, not after the services ({root['StopCron']})"
        )

    iam = deployment.client("iam")
    roles = {s["Target"]["RoleArn"] for s in mine.values()}
    assert len(roles) == 1, f"schedules use several roles: {roles}"
    role_name = roles.pop().split("/")[-1]
    statements = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statements += document["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"scheduler role allows {actions}"


def hour_of(cron):
    return cron.split(" ")[1]


def minute_of(cron):
    return int(cron.split("(")[1].split(" ")[0])


# ---- documents bucket ---------------------------------------------------------------


def test_documents_bucket_is_private_and_encrypted(deployment):
    s3 = deployment.client("s3")
    bucket = deployment.nested_outputs("Data")["DocumentsBucketName"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"):
        assert block.get(key) is True, f"{bucket}: {key} is {block.get(key)}"
    # ministack reports AES256 whatever the template asks for; that the
    # template asks for KMS is checkov's CKV_AWS_19 / CKV_AWS_145.
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules and rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], f"{bucket} is not encrypted"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    tls_denied = [
        s for s in policy["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert tls_denied, f"{bucket}: no statement denies requests without TLS"


def test_audit_anchor_bucket_locks_what_the_relay_puts(deployment):
    s3 = deployment.client("s3")
    data = deployment.nested_outputs("Data")
    bucket = data["AuditAnchorBucketName"]
    # ministack's CloudFormation leaves Object Lock off whatever the
    # template asks for: the template itself is checked for it.
    template = load_template("data.yaml")
    properties = template["Resources"]["AuditAnchorBucket"]["Properties"]
    assert properties["ObjectLockEnabled"] is True
    assert properties["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", {"Ref": "AuditAnchorRetentionDays"})
    assert template["Parameters"]["AuditAnchorRetentionDays"]["Default"] == 365
    assert template["Resources"]["AuditAnchorBucket"]["DeletionPolicy"] == "Retain"
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", f"{bucket} is not versioned"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.get(k) is True for k in (
        "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets",
    )), f"{bucket}: {block}"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in policy["Statement"]
    ), f"{bucket}: no statement denies requests without TLS"
    relay = deployment.client("ecs").describe_task_definition(taskDefinition=f"anote-{deployment.env}-relay")
    environment = {e["name"]: e["value"] for e in relay["taskDefinition"]["containerDefinitions"][0]["environment"]}
    assert environment.get("ANOTE_AUDIT_ANCHOR_TO") == f"s3://{bucket}/anchors", environment
    assert environment.get("ANOTE_AUDIT_ANCHOR_RETENTION_DAYS") == "365", environment


# ---- alarms -------------------------------------------------------------------------------


def test_alarms_exist_and_notify_the_topic(deployment):
    cloudwatch = deployment.client("cloudwatch")
    env = deployment.env
    svc = deployment.nested_outputs("Services")
    data = deployment.nested_outputs("Data")
    alarms = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"anote-{env}-"):
        for alarm in page["MetricAlarms"]:
            alarms[alarm["AlarmName"]] = alarm
    expected = {
        f"anote-{env}-{name}"
        for name in (
            "command-api-5xx-rate", "query-api-5xx-rate", "command-api-p99-latency", "query-api-p99-latency",
            "relay-lag", "projection-lag", "kinesis-iterator-age",
            "event-db-cpu", "event-db-free-storage", "event-db-connections",
        )
    }
    if data["ReadDbInstanceId"]:
        expected |= {f"anote-{env}-read-db-{n}" for n in ("cpu", "free-storage", "connections")}
    missing = sorted(expected - set(alarms))
    assert not missing, f"{env}: alarms missing: {missing}"
    if not data["ReadDbInstanceId"]:
        assert not [n for n in alarms if "-read-db-" in n], f"{env} has no read instance, yet read-db alarms exist"

    topic = deployment.nested_outputs("Observability")["AlarmTopicArn"]
    sns = deployment.client("sns")
    # The topic exists (ministack drops KmsMasterKeyId; checkov's CKV_AWS_26
    # checks that the template encrypts it).
    sns.get_topic_attributes(TopicArn=topic)
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    email = load_params(f"{env}.json")["Parameters"]["AlarmEmail"]
    assert any(s["Protocol"] == "email" and s["Endpoint"] == email for s in subscriptions), f"{topic} does not mail {email}"

    def dims(alarm):
        return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}

    for name in sorted(expected):
        alarm = alarms[name]
        assert topic in alarm["AlarmActions"], f"{name} does not notify {topic}"
        missing_data = alarm["TreatMissingData"]
        if env != "prod":
            assert missing_data == "notBreaching", f"{name}: TreatMissingData {missing_data} would page at night in {env}"
    for api, group in (("command-api", "CommandApiTargetGroupFullName"), ("query-api", "QueryApiTargetGroupFullName")):
        d = dims(alarms[f"anote-{env}-{api}-5xx-rate"])
        assert d == {"LoadBalancer": svc["LoadBalancerFullName"], "TargetGroup": svc[group]}, f"{api} 5xx alarm watches {d}"
    assert dims(alarms[f"anote-{env}-relay-lag"]) == {"Environment": env, "Service": "relay"}
    assert dims(alarms[f"anote-{env}-projection-lag"]) == {"Environment": env, "Service": "projector"}
    assert dims(alarms[f"anote-{env}-kinesis-iterator-age"]) == {"StreamName": data["StreamName"]}
    assert dims(alarms[f"anote-{env}-event-db-cpu"]) == {"DBInstanceIdentifier": data["EventDbInstanceId"]}
    if data["ReadDbInstanceId"]:
        assert dims(alarms[f"anote-{env}-read-db-connections"]) == {"DBInstanceIdentifier": data["ReadDbInstanceId"]}

    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"anote-{env}")["DashboardBody"])
    assert len(body["widgets"]) >= 6, f"dashboard anote-{env} has {len(body['widgets'])} widgets"


# ---- task definitions -------------------------------------------------------------------


def test_task_definitions_run_the_intended_commands_with_their_secrets(deployment):
    ecs = deployment.client("ecs")
    secretsmanager = deployment.client("secretsmanager")
    env = deployment.env
    data = deployment.nested_outputs("Data")
    token = data["TokenSecretArn"]
    event_password = f"{data['EventDbSecretArn']}:password::"
    read_password = f"{data['ReadDbSecretArn']}:password::"
    expected_secrets = {
        "command-api": {"ANOTE_TOKEN_SECRET": token, "ANOTE_DATABASE_PASSWORD": event_password},
        "query-api": {
            "ANOTE_TOKEN_SECRET": token,
            "ANOTE_DATABASE_PASSWORD": event_password,
            "ANOTE_READ_DATABASE_PASSWORD": read_password,
        },
        "projector": {"ANOTE_DATABASE_PASSWORD": event_password, "ANOTE_READ_DATABASE_PASSWORD": read_password},
        "relay": {"ANOTE_DATABASE_PASSWORD": event_password},
        "migrate": {"ANOTE_DATABASE_PASSWORD": event_password, "ANOTE_READ_DATABASE_PASSWORD": read_password},
    }
    for arn in {token, data["EventDbSecretArn"], data["ReadDbSecretArn"]}:
        try:
            secretsmanager.describe_secret(SecretId=arn)
        except secretsmanager.exceptions.ResourceNotFoundException:
            pytest.fail(f"{env}: the Data stack outputs secret {arn}, which does not exist")

    header_timeouts = {}
    for task in TASKS:
        family = f"anote-{env}-{task}"
        definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        containers = definition["containerDefinitions"]
        assert len(containers) == 1, f"{family}: {len(containers)} containers"
        container = containers[0]
        assert container["command"] == [task], f"{family} runs {container['command']}, not [{task!r}]"
        assert definition.get("requiresCompatibilities") == ["FARGATE"] or "FARGATE" in definition.get("compatibilities", []), family
        secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
        assert secrets == expected_secrets[task], (
            f"{family} secrets:\n    {json.dumps(secrets, indent=1)}\n  expected:\n    {json.dumps(expected_secrets[task], indent=1)}"
        )
        environment = {e["name"]: e["value"] for e in container.get("environment", [])}
        leaked = sorted(set(environment) & {"ANOTE_TOKEN_SECRET", "ANOTE_DATABASE_PASSWORD", "ANOTE_READ_DATABASE_PASSWORD"})
        assert not leaked, f"{family} passes {leaked} as plain environment"
        for key in ("ANOTE_DATABASE_URL", "ANOTE_READ_DATABASE_URL"):
            if key in environment:
                credentials = environment[key].split("://", 1)[1].split("@", 1)[0]
                assert ":" not in credentials, f"{family}: {key} carries a password"
        assert "ANOTE_DATABASE_URL" in environment, f"{family} has no ANOTE_DATABASE_URL"
        if task != "migrate":
            assert environment.get("ANOTE_ENVIRONMENT") == env, f"{family}: ANOTE_ENVIRONMENT {environment.get('ANOTE_ENVIRONMENT')}"
            assert environment.get("ANOTE_LOG_FORMAT") == "json", f"{family} does not log JSON"
        if task in ("command-api", "query-api"):
            # Behind the load balancer: trust exactly its one X-Forwarded-For
            # hop, and keep idle connections open longer than it does.
            assert environment.get("ANOTE_TRUSTED_PROXY_HOPS") == "1", f"{family}: ANOTE_TRUSTED_PROXY_HOPS {environment.get('ANOTE_TRUSTED_PROXY_HOPS')}"
            header_timeouts[task] = int(environment.get("ANOTE_HEADER_TIMEOUT_SECS", "0"))
        user = container.get("user")
        if user:
            assert user.split(":")[0] not in ("root", "0"), f"{family} runs as {user}"
        logs = container.get("logConfiguration", {})
        assert logs.get("logDriver") == "awslogs", f"{family} logs with {logs.get('logDriver')}"

    services = deployment.nested_outputs("Services")
    elb = deployment.client("elbv2")
    lb = [b for b in elb.describe_load_balancers()["LoadBalancers"] if services["LoadBalancerFullName"] in b["LoadBalancerArn"]]
    assert len(lb) == 1, f"load balancer {services['LoadBalancerFullName']} not found"
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb[0]["LoadBalancerArn"])["Attributes"]}
    idle = int(attributes.get("idle_timeout.timeout_seconds", "60"))
    for task, timeout in header_timeouts.items():
        assert timeout > idle, f"{task}: ANOTE_HEADER_TIMEOUT_SECS {timeout} is not above the load balancer's idle timeout {idle}"
    described = ecs.describe_services(
        cluster=services["ClusterName"],
        services=[services[k] for k in ("CommandApiServiceName", "QueryApiServiceName", "ProjectorServiceName", "RelayServiceName")],
    )["services"]
    for service in described:
        family = service["taskDefinition"].split("/")[-1].rsplit(":", 1)[0]
        assert family == f"anote-{env}-{service['serviceName']}", f"service {service['serviceName']} runs {family}"
        breaker = service.get("deploymentConfiguration", {}).get("deploymentCircuitBreaker", {})
        assert breaker.get("enable") and breaker.get("rollback"), f"{service['serviceName']}: no circuit breaker with rollback"
