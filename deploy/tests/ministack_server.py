"""Runs ministack (the AWS emulator the template checks deploy to) with one
gap filled: its CloudFormation engine refuses AWS::CloudWatch::Alarm with
`Metrics` (metric math), which the real service accepts and observability.yaml
uses for the 5xx rate and the iterator age in seconds.

The filled gap records such an alarm as ministack records any alarm, on the
first metric of its query (namespace, metric, dimensions, period, statistic),
and keeps the whole query beside it. The checks then see the alarm exist with
the right dimensions, actions and missing-data treatment; what they cannot
see on ministack is the metric math itself (cfn-lint checks its shape).

It also hands ECS services their counts as numbers, names containers'
secrets as ECS does, and gives RDS instances
with ManageMasterUserPassword their managed master secret (see below).
Everything else is ministack 1.5.33 as published. Start it as
    BIND_HOST=127.0.0.1 GATEWAY_PORT=PORT python ministack_server.py
"""

import json
import logging
import secrets
import sys
import uuid

from ministack.services.cloudformation import provisioners

_record = provisioners._cw_metric_alarm_record


def _metric_math_alarm_record(name, props):
    metrics = props.get("Metrics")
    if not metrics:
        return _record(name, props)
    stats = [m["MetricStat"] for m in metrics if m.get("MetricStat")]
    if not stats:
        raise ValueError(f"alarm {name}: a metric query without any MetricStat")
    first = stats[0]
    plain = {key: value for key, value in props.items() if key != "Metrics"}
    plain["Namespace"] = first["Metric"]["Namespace"]
    plain["MetricName"] = first["Metric"]["MetricName"]
    plain["Dimensions"] = first["Metric"].get("Dimensions", [])
    plain["Period"] = first["Period"]
    stat = first["Stat"]
    if stat.startswith("p"):
        plain["ExtendedStatistic"] = stat
    else:
        plain["Statistic"] = stat
    record = _record(name, plain)
    record["Metrics"] = metrics
    return record


provisioners._cw_metric_alarm_record = _metric_math_alarm_record


# ministack passes a nested stack's Number parameters on as strings, and its
# ECS service then fails to subtract from DesiredCount "1"; CloudFormation
# hands services a number. The service handler gets integers.
_INTEGER_SERVICE_PROPERTIES = ("DesiredCount", "HealthCheckGracePeriodSeconds")


def _with_integers(create):
    def wrapped(logical_id, props, stack_name):
        props = dict(props)
        for key in _INTEGER_SERVICE_PROPERTIES:
            if isinstance(props.get(key), str) and props[key].strip().lstrip("-").isdigit():
                props[key] = int(props[key])
        return create(logical_id, props, stack_name)

    return wrapped


_ecs_service = provisioners._RESOURCE_HANDLERS["AWS::ECS::Service"]
for _step in ("create", "update"):
    if _step in _ecs_service:
        _ecs_service[_step] = _with_integers(_ecs_service[_step])


# An RDS instance with ManageMasterUserPassword gets, as on AWS, a secret
# "rds!db-..." holding {"username", "password"}, and its MasterUserSecret.
# SecretArn attribute; ministack creates neither from a template.
def _with_master_secret(create):
    def wrapped(logical_id, props, stack_name):
        physical_id, attributes = create(logical_id, props, stack_name)
        if str(props.get("ManageMasterUserPassword", "")).lower() == "true":
            from ministack.services import secretsmanager

            name = f"rds!db-{uuid.uuid4()}"
            value = json.dumps({"username": props.get("MasterUsername", "postgres"), "password": secrets.token_urlsafe(24)})
            arn = secretsmanager.create_secret_in_process(name, value, f"RDS master user secret of {physical_id}")
            attributes = {**attributes, "MasterUserSecret.SecretArn": arn}
        return physical_id, attributes

    return wrapped


_rds_instance = provisioners._RESOURCE_HANDLERS["AWS::RDS::DBInstance"]
_rds_instance["create"] = _with_master_secret(_rds_instance["create"])


# ministack turns a container's Environment entries into ECS's camelCase but
# leaves Secrets (and HealthCheck) as CloudFormation spells them, so ECS
# describes every secret as {}. They get ECS's names too.
_normalize_container_defs = provisioners._normalize_container_defs


def _camel(key):
    return key[:1].lower() + key[1:]


def _with_secret_names(definitions):
    normalized = _normalize_container_defs(definitions)
    for container in normalized:
        if isinstance(container.get("secrets"), list):
            container["secrets"] = [{_camel(k): v for k, v in s.items()} for s in container["secrets"]]
        if isinstance(container.get("healthCheck"), dict):
            container["healthCheck"] = {_camel(k): v for k, v in container["healthCheck"].items()}
    return normalized


provisioners._normalize_container_defs = _with_secret_names


class _WithTraceback(logging.Filter):
    """A failed resource is logged with the emulator's traceback, so that a
    refusal by ministack itself can be told from one by the template."""

    def filter(self, record):
        if record.levelno >= logging.ERROR and record.exc_info is None and sys.exc_info()[0] is not None:
            record.exc_info = sys.exc_info()
        return True


logging.getLogger("cloudformation").addFilter(_WithTraceback())

if __name__ == "__main__":
    from ministack.app import main

    sys.argv[0] = "ministack"
    sys.exit(main())
