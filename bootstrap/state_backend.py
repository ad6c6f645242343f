"""StateBackend: a self-managed Pulumi backend for teams without Pulumi Cloud. An S3 bucket
(versioned, encrypted with its own KMS key, TLS only, never public) for the stacks' state, and
that key for the stacks' `awskms` secrets provider."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Old versions of a state file are what `pulumi stack import` restores from after a bad
# write; three months of them is plenty, and without a limit the bucket only ever grows.
NONCURRENT_VERSION_DAYS = 90


@dataclass(frozen=True, kw_only=True)
class StateBackendArgs:
    """Inputs of the StateBackend component."""

    bucket_name: str
    """Name of the bucket to create (S3 names are global: pick one nobody has)."""
    region: str
    """Region of the bucket and the key (the stacks' backend URL names it)."""
    key_alias: str
    """Alias of the secrets key, `alias/...`."""


class StateBackend(pulumi.ComponentResource):
    """The bucket of a Pulumi DIY backend and the KMS key of its stacks' secrets."""

    bucket: aws.s3.Bucket
    """The state bucket."""
    key: aws.kms.Key
    """Encrypts the bucket's objects and, as the `awskms` provider, the stacks' secrets."""

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:StateBackend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description="Pulumi state and stack secrets (awskms secrets provider)",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=args.key_alias, target_key_id=self.key.key_id),
            child,
        )
        # State is precious: keep the bucket when the bootstrap stack is destroyed.
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            aws.s3.BucketArgs(bucket=args.bucket_name),
            pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=self.bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=self.bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            aws.s3.BucketVersioningInitArgs(
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                    status="Enabled"
                ),
            ),
            child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                bucket=self.bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                        ),
                        # One data key per bucket, not one KMS call per object.
                        bucket_key_enabled=True,
                    )
                ],
            ),
            child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                bucket=self.bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-old-state-versions",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=NONCURRENT_VERSION_DAYS
                        ),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=7
                        ),
                    )
                ],
            ),
            child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            aws.s3.BucketPolicyArgs(
                bucket=self.bucket.id,
                policy=self.bucket.arn.apply(
                    lambda arn: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Sid": "DenyInsecureTransport",
                                    "Effect": "Deny",
                                    "Principal": "*",
                                    "Action": "s3:*",
                                    "Resource": [arn, f"{arn}/*"],
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            ],
                        }
                    )
                ),
            ),
            child,
        )

        self.backend_url: pulumi.Output[str] = self.bucket.bucket.apply(
            lambda bucket: f"s3://{bucket}?region={args.region}"
        )
        """`pulumi login` URL of the backend (the stacks' PULUMI_BACKEND_URL_<STACK>)."""
        self.secrets_provider: str = f"awskms://{args.key_alias}?region={args.region}"
        """`--secrets-provider` of every stack in this backend."""
        self.register_outputs(
            {
                "backend_url": self.backend_url,
                "secrets_provider": self.secrets_provider,
                "key_arn": self.key.arn,
            }
        )
