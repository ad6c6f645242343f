"""Registry: an ECR repository, and the app image built and pushed to it, pinned by digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.config.cluster import NodeArchitecture

PLATFORMS: dict[NodeArchitecture, docker_build.Platform] = {
    "arm64": docker_build.Platform.LINUX_ARM64,
    "amd64": docker_build.Platform.LINUX_AMD64,
}
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
DOCKERFILE = "app/Dockerfile"
"""The Dockerfile, relative to the build context."""
TAG_SOURCES = ("app", "contract", ".dockerignore")
"""Paths under the build context whose contents make up the image tag."""
KEEP_IMAGES = 20
"""Tagged images kept; older ones expire (untagged ones after a day)."""


def content_tag(root: Path, sources: Sequence[str]) -> str:
    """A tag derived from the bytes and paths of the build inputs: the same sources always
    give the same tag, and any change gives a new one (which an IMMUTABLE repository needs).
    """
    digest = hashlib.sha256()
    for source in sources:
        base = root / source
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(root)
            if _SKIPPED_PARTS.intersection(rel.parts) or path.suffix == ".pyc":
                continue
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:20]


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    """Inputs of the Registry component."""

    context: Path
    """The Docker build context (the repository root: the image needs app/ and contract/)."""
    architecture: NodeArchitecture
    """Image platform, following the node architecture (nodeArchitecture)."""
    force_delete: bool
    """Let `pulumi destroy` delete the repository while it holds images; a repository that
    may not be force-deleted is also protected (not protectResources)."""


class Registry(pulumi.ComponentResource):
    """A private, scanned, immutable, KMS-encrypted ECR repository holding the app image."""

    repository: aws.ecr.Repository
    """The ECR repository."""
    image: docker_build.Image
    """The built and pushed image."""
    image_ref: pulumi.Output[str]
    """The digest-pinned reference, `<repository-url>@sha256:<digest>`."""

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.repository = aws.ecr.Repository(
            f"{name}-repo",
            aws.ecr.RepositoryArgs(
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                # KMS with the AWS-managed aws/ecr key: nodes pulling images need no kms:
                # permissions, which a customer-managed key would add for no gain here.
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")
                ],
                force_delete=args.force_delete,
            ),
            # A repository that may not be force-deleted is also protected from `destroy`.
            pulumi.ResourceOptions(parent=self, protect=not args.force_delete),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            aws.ecr.LifecyclePolicyArgs(
                repository=self.repository.name,
                policy=json.dumps(
                    {
                        "rules": [
                            {
                                "rulePriority": 1,
                                "description": "Expire untagged images after a day",
                                "selection": {
                                    "tagStatus": "untagged",
                                    "countType": "sinceImagePushed",
                                    "countUnit": "days",
                                    "countNumber": 1,
                                },
                                "action": {"type": "expire"},
                            },
                            {
                                # tagStatus "any" must carry the highest priority number.
                                "rulePriority": 2,
                                "description": f"Keep the {KEEP_IMAGES} newest images",
                                "selection": {
                                    "tagStatus": "any",
                                    "countType": "imageCountMoreThan",
                                    "countNumber": KEEP_IMAGES,
                                },
                                "action": {"type": "expire"},
                            },
                        ]
                    }
                ),
            ),
            child,
        )

        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        tag = content_tag(args.context, TAG_SOURCES)
        self.image = docker_build.Image(
            f"{name}-image",
            docker_build.ImageArgs(
                context=docker_build.BuildContextArgs(location=str(args.context)),
                dockerfile=docker_build.DockerfileArgs(location=str(args.context / DOCKERFILE)),
                platforms=[PLATFORMS[args.architecture]],
                # Never `latest`: the repository's tags are immutable, so each build content
                # gets its own tag, and consumers use the digest anyway.
                tags=[pulumi.Output.concat(self.repository.repository_url, ":", tag)],
                push=True,
                # A preview needs no Docker daemon and pushes nothing.
                build_on_preview=False,
                registries=[
                    docker_build.RegistryArgs(
                        address=self.repository.repository_url,
                        username=pulumi.Output.secret(token.user_name),
                        password=pulumi.Output.secret(token.password),
                    )
                ],
            ),
            child,
        )
        self.image_ref = pulumi.Output.concat(
            self.repository.repository_url, "@", self.image.digest
        )
        self.register_outputs(
            {"repository_url": self.repository.repository_url, "image_ref": self.image_ref}
        )
