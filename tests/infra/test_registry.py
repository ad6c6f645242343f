"""The Registry component: ECR repository settings and the pushed, digest-pinned image."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pulumi_docker_build import Platform

from components.registry import Registry, RegistryArgs, content_tag
from components.sources import SourcesError
from tests.infra.harness import ROOT, Run, run_component
from tests.infra.lookup import one, unwrap

REPO = "aws:ecr/repository:Repository"
IMAGE = "docker-build:index:Image"


def test_repository_is_scanned_immutable_and_kms_encrypted(stack: Run) -> None:
    repo = one(stack, REPO).inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS"}]


def test_force_delete_only_where_the_stack_allows_it(dev: Run, prod: Run) -> None:
    assert one(dev, REPO).inputs["forceDelete"] is True
    assert one(prod, REPO).inputs["forceDelete"] is False


def test_lifecycle_expires_untagged_and_caps_the_count(stack: Run) -> None:
    repo = one(stack, REPO)
    lifecycle = one(stack, "aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.inputs["repository"] == repo.outputs["name"]
    rules = json.loads(lifecycle.inputs["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[0]["selection"]["countType"] == "sinceImagePushed"
    assert rules[1]["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 20,
    }
    # ECR requires the "any" rule to have the highest priority number.
    assert rules[1]["rulePriority"] > rules[0]["rulePriority"]
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_image_builds_app_from_the_repository_root_and_pushes(stack: Run) -> None:
    image = one(stack, IMAGE).inputs
    # Relative to the program's working directory (the checkout), where the provider
    # resolves them: an absolute path would differ between checkouts.
    assert image["context"] == {"location": "."}
    assert image["dockerfile"] == {"location": "app/Dockerfile"}
    assert image["platforms"] == ["linux/arm64"]
    assert image["push"] is True


def test_image_tag_is_content_derived_never_latest(stack: Run) -> None:
    repo = one(stack, REPO)
    [tag] = one(stack, IMAGE).inputs["tags"]
    url, _, name = tag.rpartition(":")
    assert url == repo.outputs["repositoryUrl"]
    assert name == content_tag(ROOT, Platform.LINUX_ARM64)
    assert name != "latest"


def test_registry_credentials_come_from_the_token_as_secrets(stack: Run) -> None:
    raw = one(stack, IMAGE).inputs["registries"]
    assert raw != unwrap(raw), "registries must reach the engine as a secret"
    [registry] = unwrap(raw)
    assert registry == {
        "address": one(stack, REPO).outputs["repositoryUrl"],
        "username": "AWS",
        "password": "mock-password",
    }


def test_exported_image_ref_is_pinned_by_digest(stack: Run) -> None:
    repo = one(stack, REPO)
    digest = one(stack, IMAGE).outputs["digest"]
    assert digest.startswith("sha256:")
    assert stack.outputs["imageRef"] == f"{repo.outputs['repositoryUrl']}@{digest}"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_content_tag_follows_tracked_sources_and_the_platform(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    first = content_tag(tmp_path, Platform.LINUX_ARM64)
    assert first.startswith("src-")
    # Caches and files git does not track are not part of the build's sources.
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "app" / "scratch.py").write_text("print('scratch')\n")
    assert content_tag(tmp_path, Platform.LINUX_ARM64) == first
    assert content_tag(tmp_path, Platform.LINUX_AMD64) != first
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    assert content_tag(tmp_path, Platform.LINUX_ARM64) != first


def test_outside_a_git_checkout_the_sources_error_says_why(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="tracked files"):
        content_tag(tmp_path, Platform.LINUX_ARM64)


def test_repository_is_protected_where_it_may_not_be_force_deleted(dev: Run, prod: Run) -> None:
    assert one(prod, REPO).protect is True
    assert one(dev, REPO).protect is False


def test_alone_it_builds_for_the_given_architecture_and_may_be_force_deleted() -> None:
    result = run_component(
        lambda: {
            "ref": Registry(
                "images", RegistryArgs(context=ROOT, architecture="amd64", force_delete=True)
            ).image_ref
        }
    )
    repo = one(result, REPO)
    assert (repo.inputs["forceDelete"], repo.protect) == (True, False)
    assert one(result, IMAGE).inputs["platforms"] == ["linux/amd64"]
    [tag] = one(result, IMAGE).inputs["tags"]
    assert tag.rpartition(":")[2] == content_tag(ROOT, Platform.LINUX_AMD64)
    digest = one(result, IMAGE).outputs["digest"]
    assert result.outputs["ref"] == f"{repo.outputs['repositoryUrl']}@{digest}"
