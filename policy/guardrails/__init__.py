"""The rules of the ecr-eks-lambda policy pack, one module per concern, and the pack itself.

Each resource rule is a plain function over a resource type and its properties (the camelCase
property bag Pulumi hands to analyzers), so tests can call it directly; each stack rule is a
function over the stack's `pulumi_policy.PolicyResource`s, linked to each other the way the
engine links them (URNs and property dependencies). `pack` adapts both to pulumi-policy's
`ResourceValidationPolicy` / `StackValidationPolicy` and lists them in `POLICIES`.

The modules import each other relatively: the Pulumi CLI runs `policy/` as a directory, so
this package is `guardrails` there and `policy.guardrails` in the tests.
"""
