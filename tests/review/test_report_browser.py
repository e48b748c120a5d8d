"""The class report opens in headless Chromium: its figures show, its links work, nothing is blocked.

The pages' Content-Security-Policy forbids every remote load; a figure that is not a ``data:``
image, or an inline script, would be refused and reported on the console.
"""
from __future__ import annotations

import pytest
from student_experience.chromium import launched_browser
from student_experience.test_browser import ARTIFACTS

from course_grader.review.report import write_report
from course_grader.review.synthetic_class import build_class

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    course = build_class(tmp_path_factory.mktemp("class"), {"correct": 3, "wrong_first": 2, "blank": 1},
                         ["01_first"], checks=2, late_every=3)
    return write_report(course)


@pytest.fixture(scope="module")
def browser():
    yield from launched_browser()


def test_the_report_opens_with_its_figures_visible(index, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    console, requests = [], []
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(index.as_uri())
    assert page.title() == "optim-course: class report"
    page.locator("a", has_text="01_first").first.click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "01_first"
    images = page.locator("img.figure")
    assert images.count() == 3  # scores, statuses, pass shares
    for k in range(images.count()):
        image = images.nth(k)
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 60")
        box = image.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60
    assert "3 of 6 submissions pass" in page.locator("body").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "class_report.png"), full_page=True)  # for a person to look at
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m], console
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
