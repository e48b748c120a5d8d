"""Configure this Python environment's Jupyter for students.

``python -m course_lib.setup_jupyter`` (run by ``make setup`` and by Binder's
``binder/postBuild``) writes configuration at the *sys-prefix* level, that is
under ``<environment>/etc/jupyter``, so it applies to every JupyterLab started
from this environment and never touches the user's own ``~/.jupyter``:

- nbgrader's student extensions stay on: the **Validate** button of the
  notebook toolbar (``validate_assignment``) and the **Assignment List**
  (``assignment_list``);
- the instructor extensions are switched off: the formgrader, the
  "Create Assignment" sidebar and the course list;
- JupyterLab's news and update announcements (a pop-up on first start) are off;
- nbgrader's exchange (where released and submitted assignments travel) is a
  folder the student can write, ``~/.nbgrader-exchange`` unless the
  ``NBGRADER_EXCHANGE`` environment variable names another one.

Each setting goes to the file that ``jupyter server extension disable
--sys-prefix`` and ``jupyter labextension disable --level=sys_prefix`` would
write, so those commands show (and can undo) the result. Running it again
changes nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Server extensions of nbgrader 0.9 and whether a student needs them.
SERVER_EXTENSIONS: dict[str, bool] = {
    "nbgrader.server_extensions.validate_assignment": True,
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
}

#: JupyterLab plugins switched off for students.
DISABLED_LAB_PLUGINS: tuple[str, ...] = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyterlab/apputils-extension:announcements",
)

#: JupyterLab plugins a student needs (they must not be disabled).
ENABLED_LAB_PLUGINS: tuple[str, ...] = (
    "@jupyter/nbgrader:validate-assignment",
    "@jupyter/nbgrader:assignment-list",
)

NBGRADER_CONFIG = '''\
"""nbgrader settings for students of the course (written by course_lib.setup_jupyter).

The exchange is where ``nbgrader fetch`` / ``submit`` and the Assignment List
find assignments. It must exist and be writable, so it is created on first use.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

_exchange = os.environ.get("NBGRADER_EXCHANGE") or os.path.join(os.path.expanduser("~"), ".nbgrader-exchange")
try:
    os.makedirs(_exchange, exist_ok=True)
except OSError:  # a read-only home (e.g. a grading sandbox): nbgrader reports the folder itself
    pass
c.Exchange.root = _exchange
'''


def default_config_dir() -> Path:
    """The sys-prefix Jupyter configuration folder of the running environment."""
    return Path(sys.prefix) / "etc" / "jupyter"


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; return True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _update_json(path: Path, update: dict) -> bool:
    """Merge ``update`` (two levels deep) into the JSON object in ``path``; return True if written."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for key, value in update.items():
        if isinstance(value, dict):
            data.setdefault(key, {})
            for inner_key, inner_value in value.items():
                if isinstance(inner_value, dict):
                    data[key].setdefault(inner_key, {}).update(inner_value)
                else:
                    data[key][inner_key] = inner_value
        else:
            data[key] = value
    return _write_if_changed(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def configure(config_dir: Path | None = None) -> list[Path]:
    """Write the student configuration into ``config_dir`` (the sys-prefix folder by default).

    Args:
        config_dir: a Jupyter configuration folder (one entry of ``jupyter --paths``'s
            config list); tests pass a temporary one and point ``JUPYTER_CONFIG_DIR`` at it.

    Returns:
        The files that were created or changed (empty when everything was already in place).
    """
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    changed: list[Path] = []

    # One file per server extension, as `jupyter server extension enable/disable` writes them;
    # they are read after nbgrader's own nbgrader.json (which enables all four), so they win.
    for name, enabled in SERVER_EXTENSIONS.items():
        path = config_dir / "jupyter_server_config.d" / f"{name}.json"
        if _update_json(path, {"ServerApp": {"jpserver_extensions": {name: enabled}}}):
            changed.append(path)

    # `jupyter labextension disable --level=sys_prefix` keeps its list in labconfig/page_config.json.
    page_config = config_dir / "labconfig" / "page_config.json"
    disabled = {plugin: True for plugin in DISABLED_LAB_PLUGINS}
    disabled.update({plugin: False for plugin in ENABLED_LAB_PLUGINS})
    if _update_json(page_config, {"disabledExtensions": disabled}):
        changed.append(page_config)

    nbgrader_config = config_dir / "nbgrader_config.py"
    if _write_if_changed(nbgrader_config, NBGRADER_CONFIG):
        changed.append(nbgrader_config)
    return changed


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m course_lib.setup_jupyter [--config-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=None,
        help=f"Jupyter configuration folder to write (default: {default_config_dir()})",
    )
    args = parser.parse_args(argv)
    config_dir = args.config_dir if args.config_dir is not None else default_config_dir()
    changed = configure(config_dir)
    if changed:
        for path in changed:
            print(f"configured {path}")
    else:
        print(f"Jupyter for students: already configured in {config_dir}")


if __name__ == "__main__":
    main()
