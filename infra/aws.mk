# AWS targets, included by the Makefile (`include infra/aws.mk`). Uses $(BIN) and $(STAMP)
# from the Makefile. None of these needs AWS credentials or network access to AWS.

LAMBDA_PYTHON ?= python3.12
# The SAM CLI pins boto3 (==1.43.108 today), click and requests exactly, so like checkov it gets
# a venv of its own (`make sam-cli`), used when no `sam` is on PATH.
SAM_CLI_VERSION := 1.170.0
SAM_VENV        := .cache/sam
SAM_STAMP       := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
SAM           ?= $(shell command -v sam 2>/dev/null || echo $(SAM_VENV)/bin/sam)
SAM_BUILD_DIR := .aws-sam/build
DYNALITE_DIR  := .cache/dynalite
DYNALITE_STAMP := $(DYNALITE_DIR)/node_modules/dynalite/package.json

# checkov pins its own dependencies exactly (boto3==1.35.49, networkx<2.7, packaging<24), so it
# lives in a venv of its own instead of the dev extra, where it would downgrade the project's boto3.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .cache/checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: aws-lint checkov sam-cli sam-local package local-stack bench-aws dynalite

## aws-lint: cfn-lint, `sam validate --lint` and checkov on template.yaml
aws-lint: $(STAMP) checkov sam-cli
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint

## sam-cli: the SAM CLI in .cache/sam (tests/integration/test_sam_local.py runs its env resolution)
sam-cli: $(SAM_STAMP)

$(SAM_STAMP):
	rm -rf $(SAM_VENV) && $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

## sam-local: the cycle handler in the Lambda image (Docker) against moto on the host, port 5000
## (start `moto_server -H 0.0.0.0 -p 5000` first; FUNCTION=LiquidateFunction for a dry run)
sam-local: package
	$(BIN)/python infra/sam_local.py $(or $(FUNCTION),CycleFunction)

## checkov: 0 failed checks on template.yaml; each skip is justified in the resource's Metadata
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $@

## package: sam build for the Lambda runtime, then trim and precompile (needs $(LAMBDA_PYTHON) on PATH)
package: $(STAMP)
	@command -v $(LAMBDA_PYTHON) >/dev/null || { echo "package: $(LAMBDA_PYTHON) not on PATH (sam build needs the runtime's Python)"; exit 1; }
	SAM_CLI_TELEMETRY=0 $(SAM) build --build-dir $(SAM_BUILD_DIR)
	$(BIN)/python infra/hot_modules.py > .aws-sam/hot_modules.txt
	$(LAMBDA_PYTHON) infra/finish_build.py $(SAM_BUILD_DIR) .aws-sam/hot_modules.txt

## local-stack: moto on 127.0.0.1, table + bucket from template.yaml, the cycle handler on events/
local-stack: $(STAMP)
	$(BIN)/python tests/support/local_stack.py

## bench-aws: artifact sizes and cold import ratios (after `make package`)
bench-aws: package
	$(BIN)/python bench/aws_package.py --json bench/aws_package.json

## dynalite: install dynalite for the lock race test when npm is present (else the test skips)
dynalite: $(DYNALITE_STAMP)

$(DYNALITE_STAMP):
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(DYNALITE_DIR) && \
		npm install --prefix $(DYNALITE_DIR) --no-audit --no-fund --silent dynalite@3.2.2; \
	else echo "dynalite: npm not found; the dynalite lock race test will be skipped"; fi
