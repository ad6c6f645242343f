"""Entry point the Pulumi CLI runs for `--policy-pack policy`: serves the guard rails."""

from guardrails.pack import POLICIES  # the CLI runs this directory: the package is `guardrails`
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="ecr-eks-lambda-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
