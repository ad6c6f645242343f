"""The Registry component: ECR repository settings and the pushed, digest-pinned image."""

from __future__ import annotations

import json
from pathlib import Path

from components.registry import Registry, RegistryArgs, content_tag
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
    assert image["context"] == {"location": str(ROOT)}
    assert image["dockerfile"] == {"location": str(ROOT / "app" / "Dockerfile")}
    assert image["platforms"] == ["linux/arm64"]
    assert image["push"] is True


def test_image_tag_is_content_derived_never_latest(stack: Run) -> None:
    repo = one(stack, REPO)
    [tag] = one(stack, IMAGE).inputs["tags"]
    url, _, name = tag.rpartition(":")
    assert url == repo.outputs["repositoryUrl"]
    assert name == content_tag(ROOT, ("app", "contract", ".dockerignore"))
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


def test_content_tag_changes_with_content_and_ignores_caches(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    first = content_tag(tmp_path, ("app", "missing"))
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert content_tag(tmp_path, ("app", "missing")) == first
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    assert content_tag(tmp_path, ("app", "missing")) != first
    assert first.startswith("src-")


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
    digest = one(result, IMAGE).outputs["digest"]
    assert result.outputs["ref"] == f"{repo.outputs['repositoryUrl']}@{digest}"
