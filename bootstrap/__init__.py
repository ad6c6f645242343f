"""The bootstrap Pulumi program: GitHub OIDC provider and the roles CI assumes."""
