"""The review page in a real browser (Playwright driving the system Chromium; nothing is
downloaded): thumbnails, keyboard editing written into the photo, a failed write shown with its
reason, script-injection captions inert, and the page's accessibility."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import photocap
from review_helpers import EXIFTOOL, HOSTILE, exif_fields

playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (test extra)")
expect, sync_playwright = playwright_api.expect, playwright_api.sync_playwright

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool (libimage-exiftool-perl)"),
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs the system Chromium (Debian package chromium; .ci/run)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, review_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(review_server.url)
    opened.wait_for_selector("#grid .card img")
    expect(opened.locator("#grid .card")).to_have_count(11)
    yield opened
    assert not errors, errors
    context.close()


def card(page, name: str):
    return page.locator("#grid .card", has_text=name)


def test_the_url_opens_the_page_without_the_token_in_the_address_bar(page, review_server):
    assert page.url == review_server.base + "/"
    cookies = page.context.cookies()
    assert [c["httpOnly"] for c in cookies] == [True]
    assert cookies[0]["sameSite"] == "Strict"
    for img in page.locator("#grid .card img").all():  # thumbnails load lazily: scroll to each
        img.scroll_into_view_if_needed()
    for _ in range(100):  # (no wait_for_function: the page's CSP forbids its eval)
        if page.evaluate(
            "[...document.querySelectorAll('#grid .card img')].every(i => i.complete)"
        ):
            break
        page.wait_for_timeout(100)
    widths = page.eval_on_selector_all("#grid .card img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 11 and all(w > 0 for w in widths)  # every thumbnail loaded


def test_keyboard_editing_writes_a_persons_caption_into_the_photo(
    page, review_server, review_library
):
    folder, db = review_library
    first = page.locator("#grid .card").first
    first.focus()
    page.keyboard.press("ArrowRight")
    second = page.locator("#grid .card").nth(1)
    assert page.evaluate("document.activeElement") == second.evaluate("e => e")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.dataset.id") == first.get_attribute("data-id")

    target = card(page, "astronaut.jpg")
    target.focus()
    before = exif_fields(folder / "astronaut.jpg")
    page.keyboard.press("Enter")
    editor = target.locator("input[type=text]")
    assert editor.is_visible() and editor.evaluate("e => e === document.activeElement")
    page.keyboard.type("Not this one")
    page.keyboard.press("Escape")  # cancelled: nothing written
    assert not editor.is_visible()
    assert page.evaluate("document.activeElement.dataset.id") == target.get_attribute("data-id")
    assert exif_fields(folder / "astronaut.jpg") == before

    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.type("An astronaut poses beside a flag.")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Caption saved")
    assert target.locator(".caption").inner_text() == "An astronaut poses beside a flag."
    assert target.locator("img").get_attribute("alt") == "An astronaut poses beside a flag."
    assert "by a person" in target.locator(".meta").inner_text()
    fields = exif_fields(folder / "astronaut.jpg")
    assert fields["XMP-iptcCore:AltTextAccessibility"] == "An astronaut poses beside a flag."
    assert fields["IFD0:ImageDescription"] == "An astronaut poses beside a flag."
    assert not [k for k in fields if k.startswith("XMP-photocap")]
    found = photocap("search", "astronaut flag", "--db", db, "--json")
    hits = json.loads(found.stdout)
    assert hits[0]["path"].endswith("astronaut.jpg") and hits[0]["source"] == "human"


def test_a_failed_write_shows_its_reason_and_keeps_the_text(page, review_library):
    folder = review_library[0]
    before = (folder / "readonly.jpg").read_bytes()
    target = card(page, "readonly.jpg")
    target.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.type("Stained cells under a microscope.")
    page.keyboard.press("Enter")
    error = target.locator(".error")
    error.wait_for(state="visible")
    assert "read-only" in error.inner_text() and error.get_attribute("role") == "alert"
    editor = target.locator("input[type=text]")
    assert editor.is_visible() and editor.input_value() == "Stained cells under a microscope."
    assert (folder / "readonly.jpg").read_bytes() == before


def test_accept_and_clear_buttons(page, review_library):
    folder = review_library[0]
    target = card(page, "page.jpg")
    caption = target.locator(".caption").inner_text()
    target.get_by_role("button", name="Accept the caption of page.jpg").click()
    expect(page.locator("#status")).to_contain_text("Caption accepted")
    assert "by a person" in target.locator(".meta").inner_text()
    assert exif_fields(folder / "page.jpg")["XMP-iptcCore:AltTextAccessibility"] == caption
    target.get_by_role("button", name="Clear the caption of page.jpg").click()
    expect(page.locator("#status")).to_contain_text("Caption cleared")
    assert target.locator(".caption").inner_text() == "No caption"
    assert target.locator("img").get_attribute("alt") == "Photo page.jpg, no caption"
    assert "XMP-iptcCore:AltTextAccessibility" not in exif_fields(folder / "page.jpg")


def test_script_injection_captions_render_as_text(page):
    target = card(page, "hostile.jpg")
    assert target.locator(".caption").inner_text() == HOSTILE
    assert target.locator("img").get_attribute("alt") == HOSTILE
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src=x], #grid b, #grid script").count() == 0
    # filter values are escaped by the template too
    page.fill("#q", HOSTILE)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).not_to_have_text("Loading photos…")
    assert page.evaluate("window.pwned") is None


def test_filters(page, review_library):
    page.select_option("#held_back", "true")
    page.click("button[type=submit]")
    expect(page.locator("#grid .card", has_text="moon.jpg")).to_have_count(1)
    expect(page.locator("#grid .card")).to_have_count(1)
    page.select_option("#held_back", "")
    page.fill("#under", str(review_library[0] / "trip"))
    page.keyboard.press("Enter")
    expect(page.locator("#grid .card", has_text="horse.jpg")).to_have_count(1)
    expect(page.locator("#grid .card")).to_have_count(1)
    page.fill("#under", "")
    page.keyboard.press("Enter")
    expect(page.locator("#grid .card")).to_have_count(11)
    assert page.locator("#more").is_hidden()  # 11 photos: one page of 60


CONTRAST = """
() => {
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !el.getClientRects().length) continue;
    const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3));
    const bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    out.push([el.tagName + "." + el.className, walker.currentNode.textContent.trim().slice(0, 30), ratio]);
  }
  return out;
}
"""


def test_the_page_is_accessible(page):
    # every thumbnail has alt text, every control a label
    alts = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.getAttribute('alt'))")
    assert alts and all(alts)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                          && !e.textContent.trim()).map(e => e.outerHTML)"""
    )
    assert unlabelled == []
    assert page.locator("html").get_attribute("lang") == "en"
    # text contrast (WCAG AA: 4.5:1), computed from the page's own CSS
    ratios = page.evaluate(CONTRAST)
    assert len(ratios) > 50
    low = [r for r in ratios if r[2] < 4.5]
    assert low == [], low
    # focus is visible: a focused card and a focused button draw a 3-px outline
    page.locator("#grid .card").first.focus()
    style = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert style[0] != "none" and float(style[1].rstrip("px")) >= 2
    page.keyboard.press("Tab")  # into the card's buttons
    page.keyboard.press("Tab")
    style = page.evaluate(
        "(() => { const e = document.activeElement, s = getComputedStyle(e);"
        " return [e.tagName, s.outlineStyle, s.outlineWidth]; })()"
    )
    assert style[0] == "BUTTON" and style[1] != "none" and float(style[2].rstrip("px")) >= 2
