#!/usr/bin/env bash
# Install the AWS CLI the DVC remote test needs (the release and retrain workflows upload DVC
# objects with it; GitHub's runners have it): `aws` on PATH when there is one, else awscli
# from PyPI in its own environment under .tools/awscli (never in the project's lock, whose
# botocore pin belongs to dvc-s3). Run again, it does nothing more. Ends with `aws=PATH`.
set -euo pipefail
cd "$(dirname "$0")/.."

AWSCLI_VERSION=1.46.2
fail() { echo "aws-tools: error: $*" >&2; exit 1; }

if aws=$(command -v aws); then
  :
elif [ -x .tools/awscli/bin/aws ]; then
  aws=$PWD/.tools/awscli/bin/aws
else
  python=$(scripts/find-python.sh --bootstrap) || fail "no Python to install awscli with"
  echo "aws-tools: installing awscli $AWSCLI_VERSION into .tools/awscli"
  "$python" -m venv .tools/awscli
  .tools/awscli/bin/pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" \
    || fail "pip could not install awscli $AWSCLI_VERSION; install the AWS CLI yourself"
  aws=$PWD/.tools/awscli/bin/aws
fi
version=$("$aws" --version 2>&1 | head -n 1) || fail "$aws --version failed"
echo "aws-tools: using $aws ($version)"
echo "aws=$aws"
