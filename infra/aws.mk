# AWS targets, included by the Makefile (`include infra/aws.mk`). Uses $(BIN) and $(STAMP)
# from the Makefile. None of these needs AWS credentials or network access to AWS.

LAMBDA_PYTHON ?= python3.12
SAM           ?= $(shell command -v sam 2>/dev/null || echo $(BIN)/sam)
SAM_BUILD_DIR := .aws-sam/build
DYNALITE_DIR  := .cache/dynalite
DYNALITE_STAMP := $(DYNALITE_DIR)/node_modules/dynalite/package.json

# checkov pins its own dependencies exactly (boto3==1.35.49, networkx<2.7, packaging<24), so it
# lives in a venv of its own instead of the dev extra, where it would downgrade the project's boto3.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .cache/checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: aws-lint checkov package local-stack bench-aws dynalite

## aws-lint: cfn-lint and checkov on template.yaml (and `sam validate --lint` when SAM CLI is installed)
aws-lint: $(STAMP) checkov
	$(BIN)/cfn-lint template.yaml
	@if [ -x "$(SAM)" ]; then SAM_CLI_TELEMETRY=0 $(SAM) validate --lint; \
	else echo "aws-lint: SAM CLI not installed, ran cfn-lint only"; fi

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
