.DEFAULT_GOAL := help
STACK ?= dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

up: ## deploy a stack: make up STACK=<stack> [API_CIDR=203.0.113.7/32] (does its own set-up)
	scripts/up $(STACK) $(if $(API_CIDR),--api-cidr '$(API_CIDR)') $(if $(ARGS),-- $(ARGS))

preview: ## preview a stack: make preview STACK=<stack>
	scripts/up $(STACK) --preview $(if $(API_CIDR),--api-cidr '$(API_CIDR)') $(if $(ARGS),-- $(ARGS))

config: ## pulumi config on a stack, same backend as up: make config STACK=dev ARGS='get KEY'
	scripts/stack config $(STACK) $(ARGS)

outputs: ## a stack's outputs, and how to use its cluster and reach the app
	scripts/stack outputs $(STACK)

kubeconfig: ## write a stack's kubeconfig to ~/.kube/ecr-eks-lambda-STACK.yaml (mode 600)
	scripts/stack kubeconfig $(STACK)

destroy: ## delete a stack's AWS resources (same backend as up; says what is protected)
	scripts/stack destroy $(STACK) $(if $(ARGS),-- $(ARGS))

demo: ## the data path on this machine, until Ctrl-C (DEMO_ARGS=--fast-redrive: poison to the DLQ in < 1 min)
	scripts/bootstrap
	.venv/bin/python -m local.demo $(DEMO_ARGS)

test: ## the whole test suite from a fresh clone (lint, types, tests)
	scripts/test

cost: ## what each stack costs a month and per million events (bench/cost.py; ARGS=--readme updates README.md)
	scripts/bootstrap
	.venv/bin/python bench/cost.py $(ARGS)

config-docs: ## regenerate Pulumi.yaml's config block and docs/infra.md's table from components/config/
	scripts/bootstrap
	.venv/bin/python -m components.config.docs

addon-versions: ## rewrite one Kubernetes version's row of components/addon_versions.toml from EKS: make addon-versions K8S=1.36
	@test -n "$(K8S)" || { echo 'usage: make addon-versions K8S=1.36' >&2; exit 2; }
	scripts/bootstrap
	.venv/bin/python -m scripts.addon_versions '$(K8S)'

.PHONY: help up preview config outputs kubeconfig destroy demo test cost config-docs addon-versions
