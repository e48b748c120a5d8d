"""Which Chromium the browser tests use, and what they say when there is none.

The system's Chromium is hidden by an empty search path (not uninstalled); Playwright's
download is replaced by one that fails the way it fails on a machine without internet access.
"""
from __future__ import annotations

from pathlib import Path

from student_experience import chromium


def _fake_browser(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / name
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    return fake


def test_the_system_chromium_comes_first(tmp_path, monkeypatch):
    fake = _fake_browser(tmp_path / "bin", "chromium", "echo 'Chromium 140.0'")
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: "/elsewhere/chrome")
    assert chromium.find_chromium(path=str(tmp_path / "bin")) == (str(fake), "the system's Chromium")


def test_without_a_system_chromium_playwright_s_is_used(tmp_path, monkeypatch):
    fake = _fake_browser(tmp_path / "ms-playwright", "chrome", "echo 'Chromium 159.0'")
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: str(fake))
    monkeypatch.setattr(chromium, "download_playwright_chromium", lambda: "must not be needed")
    assert chromium.find_chromium(path=str(tmp_path / "empty")) == (str(fake), "Playwright's Chromium")


def test_a_failed_download_says_why_and_what_to_install(tmp_path, monkeypatch):
    downloads = []
    monkeypatch.setenv("COURSE_BROWSER_DOWNLOAD", "1")
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: None)
    monkeypatch.setattr(chromium, "download_playwright_chromium", lambda: downloads.append(1) or
                        "`playwright install chromium` failed: Error: Download failure, code=1")
    path, why = chromium.find_chromium(path=str(tmp_path))
    assert path is None and downloads == [1]
    assert "Download failure" in why and "apt-get install chromium" in why


def test_a_browser_that_cannot_start_is_not_used(tmp_path, monkeypatch):
    fake = _fake_browser(tmp_path / "ms-playwright", "chrome",
                         "echo 'chrome: error while loading shared libraries: libnss3.so' >&2; exit 127")
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: str(fake))
    path, why = chromium.find_chromium(path=str(tmp_path / "empty"))
    assert path is None
    assert "libnss3.so" in why and "playwright install-deps chromium" in why

