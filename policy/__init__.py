"""The ecr-eks-lambda policy pack (run by `pulumi preview/up --policy-pack policy`)."""
