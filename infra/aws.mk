# AWS targets, included by the Makefile (`include infra/aws.mk`). Uses $(BIN) and $(STAMP)
# from the Makefile. None of these needs AWS credentials or network access to AWS.

LAMBDA_PYTHON ?= python3.12
SAM           ?= $(shell command -v sam 2>/dev/null || echo $(BIN)/sam)
SAM_BUILD_DIR := .aws-sam/build
DYNALITE_DIR  := .cache/dynalite
DYNALITE_STAMP := $(DYNALITE_DIR)/node_modules/dynalite/package.json

.PHONY: aws-lint package local-stack bench-aws dynalite

## aws-lint: cfn-lint on template.yaml (and `sam validate --lint` when SAM CLI is installed)
aws-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	@if [ -x "$(SAM)" ]; then SAM_CLI_TELEMETRY=0 $(SAM) validate --lint; \
	else echo "aws-lint: SAM CLI not installed, ran cfn-lint only"; fi

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
