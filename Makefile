.DEFAULT_GOAL := help
STACK ?= dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

up: ## deploy a stack: make up STACK=dev|prod (does its own set-up)
	scripts/up $(STACK)

preview: ## preview a stack: make preview STACK=dev|prod
	scripts/up $(STACK) --preview

demo: ## the whole data path on this machine (app -> SQS -> handler), until Ctrl-C
	scripts/bootstrap
	.venv/bin/python -m local.demo $(DEMO_ARGS)

test: ## the whole test suite from a fresh clone (lint, types, tests)
	scripts/test

config-docs: ## regenerate Pulumi.yaml's config block and docs/infra.md's table from components/config/
	scripts/bootstrap
	.venv/bin/python -m components.config.docs

.PHONY: help up preview demo test config-docs
