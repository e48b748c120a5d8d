"""course_lib.setup_jupyter: the student configuration of the environment's Jupyter.

Each test writes into a scratch configuration folder holding what the installed packages
put into this environment's sys-prefix folder (so nbgrader's own ``nbgrader.json``, which
enables all four server extensions, is there to be overridden, exactly as in a fresh
``make setup`` before ``course_lib.setup_jupyter`` runs) and reads it back with the readers
that Jupyter Server, JupyterLab and nbgrader use. Whatever ``make setup`` or another test
already wrote into the environment's own folder plays no part.
"""
from __future__ import annotations

import functools
import importlib.metadata
import json
import shutil
import sys
from pathlib import Path

import pytest
from jupyter_server.extension.config import ExtensionConfigManager
from traitlets.config.loader import PyFileConfigLoader

from course_lib import setup_jupyter

PREFIX = Path(sys.prefix)
NBGRADER_LAB_JS = PREFIX / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader" / "static"
LAB_STATIC = PREFIX / "share" / "jupyter" / "lab" / "static"


@functools.cache
def _installed_config_files() -> tuple[tuple[Path, Path], ...]:
    """``(file, path relative to etc/jupyter)`` of what pip installed into the sys-prefix folder."""
    folder = (PREFIX / "etc" / "jupyter").resolve()
    found = []
    for dist in importlib.metadata.distributions():
        for name in dist.files or []:
            if "etc/jupyter/" not in name.as_posix():
                continue
            path = Path(dist.locate_file(name)).resolve()
            if path.is_relative_to(folder) and path.is_file():
                found.append((path, path.relative_to(folder)))
    return tuple(sorted(found))


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NBGRADER_EXCHANGE", raising=False)
    (tmp_path / "home").mkdir()
    target = tmp_path / "etc-jupyter"
    target.mkdir()
    for path, relative in _installed_config_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
    assert (target / "jupyter_server_config.d" / "nbgrader.json").is_file(), "nbgrader's own settings"
    return target


def _effective_server_extensions(config_dir: Path) -> dict[str, bool]:
    return ExtensionConfigManager(read_config_path=[str(config_dir)]).get_jpserver_extensions()


def test_student_server_extensions_on_instructor_ones_off(config_dir):
    setup_jupyter.configure(config_dir)
    enabled = _effective_server_extensions(config_dir)
    assert enabled["nbgrader.server_extensions.validate_assignment"] is True
    assert enabled["nbgrader.server_extensions.assignment_list"] is True
    assert enabled["nbgrader.server_extensions.formgrader"] is False
    assert enabled["nbgrader.server_extensions.course_list"] is False
    # JupyterLab itself stays on.
    assert enabled.get("jupyterlab", True) is True


def test_lab_plugins_disabled_for_students(config_dir, monkeypatch):
    from jupyterlab_server.config import get_page_config

    setup_jupyter.configure(config_dir)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    disabled = set(get_page_config([])["disabledExtensions"])
    assert {
        "@jupyter/nbgrader:formgrader",
        "@jupyter/nbgrader:create-assignment",
        "@jupyter/nbgrader:course-list",
        "@jupyterlab/apputils-extension:announcements",
    } <= disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled


def test_plugin_and_extension_names_exist_in_the_installed_packages():
    """A misspelt plugin id is silently ignored by JupyterLab: check each one is real."""
    nbgrader_js = "".join(p.read_text(errors="replace") for p in NBGRADER_LAB_JS.glob("*.js"))
    lab_js = "".join(p.read_text(errors="replace") for p in LAB_STATIC.glob("*.js"))
    for plugin in setup_jupyter.DISABLED_LAB_PLUGINS + setup_jupyter.ENABLED_LAB_PLUGINS:
        source = nbgrader_js if plugin.startswith("@jupyter/nbgrader:") else lab_js
        assert f'"{plugin}"' in source or f"'{plugin}'" in source, plugin
    for module in setup_jupyter.SERVER_EXTENSIONS:
        __import__(module)


def test_running_twice_changes_nothing(config_dir):
    first = setup_jupyter.configure(config_dir)
    assert first, "a fresh configuration folder must be written"
    snapshot = {p: p.read_bytes() for p in config_dir.rglob("*") if p.is_file()}
    assert setup_jupyter.configure(config_dir) == []
    assert {p: p.read_bytes() for p in config_dir.rglob("*") if p.is_file()} == snapshot


def test_existing_settings_are_kept(config_dir):
    page_config = config_dir / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps({"disabledExtensions": {"some-extension:plugin": True}, "other": 1}))
    setup_jupyter.configure(config_dir)
    data = json.loads(page_config.read_text())
    assert data["other"] == 1
    assert data["disabledExtensions"]["some-extension:plugin"] is True
    assert data["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True


def test_home_is_not_touched(config_dir, tmp_path):
    setup_jupyter.main(["--config-dir", str(config_dir)])
    assert list((tmp_path / "home").iterdir()) == []


@pytest.mark.parametrize("override", [False, True])
def test_nbgrader_exchange_is_a_writable_folder(config_dir, tmp_path, monkeypatch, override):
    setup_jupyter.configure(config_dir)
    expected = tmp_path / "home" / ".nbgrader-exchange"
    if override:
        expected = tmp_path / "elsewhere" / "exchange"
        monkeypatch.setenv("NBGRADER_EXCHANGE", str(expected))
    config = PyFileConfigLoader("nbgrader_config.py", path=str(config_dir)).load_config()
    assert config.Exchange.root == str(expected)
    assert expected.is_dir()


def test_main_reports_what_it_did(config_dir, capsys):
    setup_jupyter.main(["--config-dir", str(config_dir)])
    assert "configured" in capsys.readouterr().out
    setup_jupyter.main(["--config-dir", str(config_dir)])
    assert "already configured" in capsys.readouterr().out


def test_default_target_is_the_sys_prefix():
    assert setup_jupyter.default_config_dir() == Path(sys.prefix) / "etc" / "jupyter"
