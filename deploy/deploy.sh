#!/usr/bin/env bash
# Deploys one Anote environment: deploy/deploy.sh dev|staging|prod
#
# 1. packages the root template and its nested templates (the nested ones go
#    to the artifact bucket, `aws cloudformation package`),
# 2. deploys the root stack anote-<env> with params/<env>.json (the
#    CodePipeline template-configuration file of the environment),
# 3. deploys the autoscaling stack anote-<env>-scaling (scaling.yaml) with
#    params/scaling-<env>.json; it imports the root stack's exports.
#
# The very first deployment of an environment has no schema yet: it creates
# the stack with every service at 0 tasks (StartServices=false), runs `anote
# migrate` as a one-off task, then deploys again with the services started.
#
# Environment:
#   ANOTE_ARTIFACT_BUCKET  (required) bucket for the packaged nested templates
#   ANOTE_IMAGE_URI        the image to run (ACCOUNT.dkr.ecr.REGION.amazonaws.com/
#                          REPOSITORY:TAG); default: ImageUri of params/<env>.json
#   ANOTE_CFN_ROLE_ARN     service role CloudFormation acts with (the pipeline's)
#   ANOTE_PARAMETER_OVERRIDES  more Key=Value overrides of the root stack's
#                          parameters, space-separated (e.g. NatGateways=0 on an
#                          emulator without NAT gateways)
#   ANOTE_STACK_PREFIX     stack names' prefix (default anote)
#   AWS_ENDPOINT_URL       an emulator (ministack, moto); then the scaling stack
#                          (Application Auto Scaling, which emulators lack) and the
#                          migrate task are skipped unless ANOTE_SKIP_SCALING=0 /
#                          ANOTE_SKIP_MIGRATE=0
#   ANOTE_SKIP_SCALING=1   do not deploy scaling.yaml
#   ANOTE_SKIP_MIGRATE=1   do not run the first deployment's migrate task
#   AWS_REGION / AWS_PROFILE and the other usual AWS CLI variables
#
# Needs the AWS CLI (v1 or v2) and python3.
set -euo pipefail

usage() {
    echo "usage: $0 dev|staging|prod" >&2
    exit 2
}
[ $# -eq 1 ] || usage
ENVIRONMENT=$1
case "$ENVIRONMENT" in dev | staging | prod) ;; *) usage ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
CFN="$HERE/cloudformation"
PARAMS="$CFN/params/$ENVIRONMENT.json"
SCALING_PARAMS="$CFN/params/scaling-$ENVIRONMENT.json"
PREFIX=${ANOTE_STACK_PREFIX:-anote}
STACK="$PREFIX-$ENVIRONMENT"
SCALING_STACK="$STACK-scaling"

if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    SKIP_SCALING=${ANOTE_SKIP_SCALING:-1}
    SKIP_MIGRATE=${ANOTE_SKIP_MIGRATE:-1}
else
    SKIP_SCALING=${ANOTE_SKIP_SCALING:-0}
    SKIP_MIGRATE=${ANOTE_SKIP_MIGRATE:-0}
fi

AWS=$(command -v aws || true)
if [ -z "$AWS" ] && [ -x "$HOME/.cache/anote/awscli-venv/bin/aws" ]; then
    AWS="$HOME/.cache/anote/awscli-venv/bin/aws"
fi
if [ -z "$AWS" ]; then
    cat >&2 <<'EOF'
deploy.sh needs the AWS CLI. Install it, for example:
  python3 -m venv ~/.cache/anote/awscli-venv && ~/.cache/anote/awscli-venv/bin/pip install awscli
(deploy.sh finds it there), or AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html
EOF
    exit 1
fi
command -v python3 >/dev/null || { echo "deploy.sh needs python3" >&2; exit 1; }
[ -n "${ANOTE_ARTIFACT_BUCKET:-}" ] || {
    echo "set ANOTE_ARTIFACT_BUCKET to a bucket for the packaged templates" >&2
    exit 2
}
[ -f "$PARAMS" ] || { echo "no parameter file $PARAMS" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# "Key=Value" lines of a template-configuration file's Parameters (or Tags),
# with KEY=VALUE overrides given as further arguments.
config_pairs() {
    python3 - "$@" <<'EOF'
import json, sys
path, section, *overrides = sys.argv[1:]
values = json.load(open(path)).get(section, {})
for override in overrides:
    key, _, value = override.partition("=")
    values[key] = value
for key, value in values.items():
    print(f"{key}={value}")
EOF
}

OVERRIDES=()
if [ -n "${ANOTE_IMAGE_URI:-}" ]; then
    OVERRIDES+=("ImageUri=$ANOTE_IMAGE_URI")
fi
if [ -n "${ANOTE_PARAMETER_OVERRIDES:-}" ]; then
    read -r -a EXTRA <<<"$ANOTE_PARAMETER_OVERRIDES"
    OVERRIDES+=("${EXTRA[@]}")
fi
ROLE_ARGS=()
if [ -n "${ANOTE_CFN_ROLE_ARN:-}" ]; then
    ROLE_ARGS+=(--role-arn "$ANOTE_CFN_ROLE_ARN")
fi

stack_status() {
    "$AWS" cloudformation describe-stacks --stack-name "$1" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}

output() {
    "$AWS" cloudformation describe-stacks --stack-name "$STACK" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# deploy_stack NAME TEMPLATE PARAMETER-FILE [KEY=VALUE...]
deploy_stack() {
    local name=$1 template=$2 file=$3
    shift 3
    local parameters tags
    mapfile -t parameters < <(config_pairs "$file" Parameters "${OVERRIDES[@]+"${OVERRIDES[@]}"}" "$@")
    mapfile -t tags < <(config_pairs "$file" Tags)
    echo "deploying $name ($(basename "$template"), $(basename "$file") $*)"
    "$AWS" cloudformation deploy \
        --stack-name "$name" \
        --template-file "$template" \
        --parameter-overrides "${parameters[@]}" \
        ${tags[@]+--tags "${tags[@]}"} \
        --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND \
        --no-fail-on-empty-changeset \
        "${ROLE_ARGS[@]+"${ROLE_ARGS[@]}"}"
}

run_migrate() {
    local cluster task_def subnets group task exit_code
    cluster=$(output ClusterName)
    task_def=$(output MigrateTaskDefinitionArn)
    subnets=$(output PrivateSubnetIds)
    group=$(output TaskSecurityGroupId)
    echo "running anote migrate ($task_def)"
    task=$("$AWS" ecs run-task --cluster "$cluster" --task-definition "$task_def" \
        --launch-type FARGATE --count 1 --started-by deploy.sh \
        --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$group],assignPublicIp=DISABLED}" \
        --query 'tasks[0].taskArn' --output text)
    [ -n "$task" ] && [ "$task" != None ] || { echo "the migrate task did not start" >&2; exit 1; }
    # The waiter gives up after 10 minutes; a long migration gets a second one.
    "$AWS" ecs wait tasks-stopped --cluster "$cluster" --tasks "$task" ||
        "$AWS" ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
    exit_code=$("$AWS" ecs describe-tasks --cluster "$cluster" --tasks "$task" \
        --query "tasks[0].containers[?name=='migrate'].exitCode | [0]" --output text)
    if [ "$exit_code" != 0 ]; then
        echo "anote migrate exited with $exit_code: see log group /anote/$ENVIRONMENT, prefix migrate" >&2
        exit 1
    fi
}

echo "packaging the templates to s3://$ANOTE_ARTIFACT_BUCKET/$STACK/"
"$AWS" cloudformation package \
    --template-file "$CFN/anote.yaml" \
    --s3-bucket "$ANOTE_ARTIFACT_BUCKET" \
    --s3-prefix "$STACK" \
    --output-template-file "$WORK/anote.packaged.yaml" >/dev/null

status=$(stack_status "$STACK")
if [ "$status" = ROLLBACK_COMPLETE ]; then
    echo "$STACK failed its first creation (ROLLBACK_COMPLETE) and cannot be updated:" >&2
    echo "read its events, delete it (aws cloudformation delete-stack --stack-name $STACK), run again" >&2
    exit 1
fi
if [ "$status" = NONE ] || [ "$status" = REVIEW_IN_PROGRESS ]; then
    if [ "$SKIP_MIGRATE" = 1 ]; then
        deploy_stack "$STACK" "$WORK/anote.packaged.yaml" "$PARAMS"
    else
        echo "$STACK is new: services at 0 tasks until the schema exists"
        deploy_stack "$STACK" "$WORK/anote.packaged.yaml" "$PARAMS" StartServices=false
        run_migrate
        deploy_stack "$STACK" "$WORK/anote.packaged.yaml" "$PARAMS"
    fi
else
    deploy_stack "$STACK" "$WORK/anote.packaged.yaml" "$PARAMS"
fi

if [ "$SKIP_SCALING" = 1 ]; then
    echo "skipping $SCALING_STACK (ANOTE_SKIP_SCALING=1)"
else
    [ -f "$SCALING_PARAMS" ] || { echo "no parameter file $SCALING_PARAMS" >&2; exit 2; }
    # scaling.yaml has no ImageUri: only the root's overrides apply there.
    OVERRIDES=()
    deploy_stack "$SCALING_STACK" "$CFN/scaling.yaml" "$SCALING_PARAMS"
fi

echo "$STACK deployed; the app answers at $(output LoadBalancerDnsName) (point the domain of AppOrigin there)"
