"""Registry: an ECR repository, and the app image built and pushed to it, pinned by digest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.config.cluster import NodeArchitecture
from components.sources import as_registered, content_digest, tracked_files

PLATFORMS: dict[NodeArchitecture, docker_build.Platform] = {
    "arm64": docker_build.Platform.LINUX_ARM64,
    "amd64": docker_build.Platform.LINUX_AMD64,
}
DOCKERFILE = "app/Dockerfile"
"""The Dockerfile, relative to the build context."""
TAG_SOURCES = ("app", "contract", ".dockerignore")
"""Paths under the build context whose tracked files make up the image tag (the Dockerfile
and everything it copies)."""
KEEP_IMAGES = 20
"""Tagged images kept; older ones expire (untagged ones after a day)."""


def content_tag(root: Path, platform: docker_build.Platform) -> str:
    """A tag derived from the paths and bytes of the build's tracked inputs and the platform
    built for: the same sources always give the same tag, and any change (a file, or another
    architecture) gives a new one, which an IMMUTABLE repository needs."""
    files = tracked_files(root, TAG_SOURCES)
    return "src-" + content_digest(root, files, f"platform={platform.value}")[:20]


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    """Inputs of the Registry component."""

    context: Path
    """The Docker build context: the checkout's root (the image needs app/ and contract/),
    which is the program's working directory; registered relative to it."""
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
        platform = PLATFORMS[args.architecture]
        tag = content_tag(args.context, platform)
        self.image = docker_build.Image(
            f"{name}-image",
            docker_build.ImageArgs(
                # Relative: pulumi-docker-build diffs these, so an absolute path would rebuild
                # (and re-push the same immutable tag) from every other checkout.
                context=docker_build.BuildContextArgs(location=as_registered(args.context)),
                dockerfile=docker_build.DockerfileArgs(
                    location=as_registered(args.context / DOCKERFILE)
                ),
                platforms=[platform],
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
