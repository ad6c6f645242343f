"""The container image: lint always; build with buildah and run as the non-root user (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from local.servers import free_port
from tests.app.helpers import ROOT

DOCKERFILE = ROOT / "app" / "Dockerfile"
CACHE = ROOT / ".cache" / "app-image"
BASE_TAG = "localhost/app-base:bookworm"
IMAGE_TAG = "localhost/ecr-eks-lambda-app:test"


def test_hadolint_is_clean():
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "hadolint"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract():
    text = DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=public.ecr.aws/docker/library/python:" in text
    assert "@sha256:" in text.split("ARG BASE_IMAGE=", 1)[1].splitlines()[0]
    assert text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage
    assert "\nUSER 10001:10001\n" in text
    assert "--require-hashes" in text
    assert "EXPOSE 8080" in text
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :][:2] == ["!app/", "!contract/"]


def _buildah(*args: str, capture: bool = True) -> str:
    cmd = [
        "buildah",
        "--root",
        str(CACHE / "storage"),
        "--runroot",
        str(CACHE / "runroot"),
        "--storage-driver",
        "vfs",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=capture, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def _local_base() -> None:
    """A stand-in for python slim: Debian bookworm minbase + python3, made with debootstrap.

    It trusts the host's CA bundle so pip can reach PyPI through this machine's TLS proxy
    (the real base needs nothing of the kind)."""
    rootfs = CACHE / "rootfs"
    if not rootfs.exists():
        tmp = CACHE / "rootfs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(tmp),
                "http://deb.debian.org/debian",
            ],
            check=True,
            capture_output=True,
        )
        # What python:*-slim leaves out too: package caches, docs, man pages, translations.
        junk_dirs = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc")
        for junk in (*junk_dirs, "usr/share/man", "usr/share/locale"):
            for path in (tmp / junk).glob("*"):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        tmp.rename(rootfs)
    images = _buildah("images", "--format", "{{.Name}}:{{.Tag}}")
    if BASE_TAG in images.splitlines():
        return
    container = _buildah("from", "scratch")
    mount = _buildah("mount", container)
    subprocess.run(["cp", "-a", f"{rootfs}/.", mount], check=True)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", f"{mount}/etc/ssl/certs/")
    _buildah("umount", container)
    _buildah(
        "config",
        "--env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--env",
        "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        container,
    )
    _buildah("commit", "--quiet", container, BASE_TAG)
    _buildah("rm", container)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_image_builds_and_serves_as_its_non_root_user_on_a_read_only_root(tmp_path):
    subprocess.run([str(ROOT / "scripts" / "need-image")], check=True)
    _local_base()
    started = time.monotonic()
    _buildah(
        "bud",
        "--quiet",
        "--isolation",
        "chroot",
        "--pull=never",
        "--build-arg",
        f"BASE_IMAGE={BASE_TAG}",
        "-f",
        str(DOCKERFILE),
        "-t",
        IMAGE_TAG,
        str(ROOT),
    )
    build_seconds = time.monotonic() - started
    _buildah("rmi", "--prune")  # the previous build's image, now untagged (vfs: full copies)
    config = json.loads(_buildah("inspect", "--type", "image", IMAGE_TAG))["OCIv1"]["config"]
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    uid, gid = (int(x) for x in config["User"].split(":"))
    container = _buildah("from", "--pull=never", IMAGE_TAG)
    readonly_root = tmp_path / "root"
    readonly_root.mkdir()
    mounted = False
    proc = None
    try:
        mount = _buildah("mount", container)
        # The image's filesystem, bind-mounted read-only: what readOnlyRootFilesystem gives.
        subprocess.run(["mount", "--bind", mount, str(readonly_root)], check=True)
        mounted = True
        subprocess.run(["mount", "-o", "remount,bind,ro", str(readonly_root)], check=True)

        def enter_image() -> None:
            os.chroot(readonly_root)
            os.chdir(config["WorkingDir"])
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        port = free_port()
        env = dict(e.split("=", 1) for e in config["Env"])
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/events",
            AWS_REGION="us-east-1",
            SHUTDOWN_DELAY_SECONDS="0",
        )
        log = tmp_path / "app.log"
        proc = subprocess.Popen(
            [*config["Entrypoint"], *(config.get("Cmd") or [])],
            env=env,
            preexec_fn=enter_image,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert health is not None, log.read_text()
        assert health.status_code == 200, log.read_text()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status
        assert f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}" in status
        doc = requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert "Event" in doc["components"]["schemas"]
        proc.send_signal(15)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if mounted:
            subprocess.run(["umount", str(readonly_root)], check=False)
        _buildah("umount", container)
        _buildah("rm", container)
    sizes = _buildah("images", "--format", "{{.Name}}:{{.Tag}} {{.Size}}")
    print(f"\nbuilt in {build_seconds:.0f} s; images:\n{sizes}")
