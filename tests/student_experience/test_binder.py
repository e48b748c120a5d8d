"""The Binder launch: what repo2docker builds from binder/, checked without Docker.

``jupyter-repo2docker --no-build`` renders the Dockerfile that Binder would build and prints
it; it needs neither a network nor a container engine. It runs on a copy of the files git
would commit, so that a stray file (a Dockerfile, a second environment file) that would
change Binder's choice of build pack shows up here too.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import escapism
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
POSTBUILD = BINDER / "postBuild"
FIRST_CHAPTER = "notebooks/01_gradient_descent/gradient_descent.ipynb"
# Binder's notebook user (repo2docker refuses to build for root).
BINDER_USER = ("jovyan", "1000")


def _repository_files() -> list[str]:
    """Files git would commit: tracked ones plus untracked ones that are not ignored."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode().split("\0")
        return sorted({f for f in listed if f and (ROOT / f).is_file()})
    # Not a git checkout (e.g. an unpacked archive): the folders and files Binder reads.
    files = [p for p in BINDER.rglob("*") if p.is_file()]
    files += [ROOT / name for name in ("environment.yml", "requirements.txt", "pyproject.toml")]
    files += [p for p in (ROOT / "course_lib").rglob("*.py")]
    return sorted(str(p.relative_to(ROOT)) for p in files if p.is_file())


@pytest.fixture(scope="module")
def repo2docker_run(tmp_path_factory) -> subprocess.CompletedProcess:
    copy = tmp_path_factory.mktemp("binder") / "repo"
    for name in _repository_files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)  # keeps the executable bit
    executable = Path(sys.executable).parent / "jupyter-repo2docker"
    if not executable.exists():
        pytest.fail(f"{executable} is missing: jupyter-repo2docker is pinned in requirements-dev.txt")
    user, uid = BINDER_USER
    # A Docker socket that cannot exist: a dry run must not need (or reach) a container engine.
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    result = subprocess.run(
        [str(executable), "--no-build", "--no-run", "--user-name", user, "--user-id", uid, str(copy)],
        cwd=copy.parent, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"repo2docker failed:\n{result.stderr}\n{result.stdout}"
    return result


def _dockerfile_lines(result) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines()]


def test_repo2docker_picks_the_conda_environment_in_binder(repo2docker_run):
    dockerfile = repo2docker_run.stdout
    assert "Building conda environment for python=3.11" in repo2docker_run.stderr
    # The base environment repo2docker installs first is its Python 3.11 lock file.
    # (build_script_files/<escaped source path>-<hash>)
    copied = [escapism.unescape(name.rsplit("-", 1)[0], escape_char="-")
              for name in re.findall(r"COPY \S+ build_script_files/(\S+) ", dockerfile)]
    assert any(re.search(r"environment\.py-3\.11-linux-64\.lock", name) for name in copied), copied
    assert re.search(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "binder/environment\.yml"', dockerfile)
    # binder/ takes precedence: the top-level files are not installed a second time.
    assert "requirements.txt" not in dockerfile
    assert "FROM docker.io/library/buildpack-deps" in dockerfile


def test_repo2docker_installs_the_environment_and_runs_postbuild_after_copying_the_repository(repo2docker_run):
    """The pip section's lock (-c ../constraints.txt) must be there when the environment is installed."""
    lines = _dockerfile_lines(repo2docker_run)
    user, uid = BINDER_USER
    env_update = next(i for i, line in enumerate(lines) if "binder/environment.yml" in line and "env update" in line)
    copy_repo = lines.index(f"COPY --chown={uid}:{uid} src/ ${{REPO_DIR}}/")
    postbuild = lines.index("RUN ./binder/postBuild")
    assert copy_repo < env_update < postbuild
    users = [line for line in lines[:postbuild] if line.startswith("USER ")]
    assert users[-1] == "USER ${NB_USER}", "postBuild must run as the notebook user, not root"


def test_binder_environment_is_the_top_level_environment():
    """The same file but for the lock's path, which conda reads relative to binder/."""
    top = (ROOT / "environment.yml").read_text()
    assert "- -c constraints.txt\n" in top
    assert (BINDER / "environment.yml").read_text() == top.replace("- -c constraints.txt\n", "- -c ../constraints.txt\n")


def test_binder_environment_pins_what_requirements_txt_pins():
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pinned_env = sorted(line for line in pip if not line.startswith("-"))
    requirements = sorted(
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    )
    assert pinned_env == requirements
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=\s]+", line) for line in pinned_env)
    # CPU wheels of PyTorch: the default index would pull several GB of CUDA libraries.
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip
    # Every other package at the version of the lock that `make setup` installs.
    assert "-c ../constraints.txt" in pip and (BINDER / "../constraints.txt").resolve() == ROOT / "constraints.txt"


def test_postbuild_is_an_executable_bash_script_that_stops_at_the_first_error():
    text = POSTBUILD.read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert re.fullmatch(r"#!\s*(/usr/bin/env bash|/bin/bash)", lines[0])
    commands = [line for line in lines[1:] if line and not line.startswith("#")]
    assert re.fullmatch(r"set -[a-z]*e[a-z]*( pipefail| -o pipefail)?", commands[0]), commands[0]
    assert POSTBUILD.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
    if shutil.which("git") and (ROOT / ".git").exists():
        staged = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=ROOT,
                                capture_output=True, text=True).stdout
        assert not staged or staged.startswith("100755"), f"git records postBuild as {staged.split()[0]}"
    subprocess.run(["bash", "-n", str(POSTBUILD)], check=True)


def test_postbuild_installs_the_course_and_configures_jupyter_like_make_setup():
    commands = [line.strip() for line in POSTBUILD.read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    install = next(i for i, c in enumerate(commands) if re.search(r"pip install .*--no-deps.* -e \.$", c))
    configure = next(i for i, c in enumerate(commands) if c == "python -m course_lib.setup_jupyter")
    assert install < configure, "course_lib must be installed before it configures Jupyter"
    assert "python -m course_lib.setup_jupyter" in (ROOT / "Makefile").read_text()


def test_readme_binder_link_opens_the_first_chapter_in_jupyterlab():
    readme = ROOT / "README.md"
    links = re.findall(r"https://mybinder\.org/v2/gh/[^\s)\]]+", readme.read_text()) if readme.exists() else []
    if not links:
        pytest.skip("README.md has no Binder badge yet")
    for link in links:
        assert link.endswith(f"/HEAD?urlpath=lab/tree/{FIRST_CHAPTER}"), link
    assert (ROOT / FIRST_CHAPTER).exists()
