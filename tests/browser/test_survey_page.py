"""The survey page on a phone in a real browser: the customer taps a rating, writes a comment and sends it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from ccm_core.domain.survey import load_survey
from ccm_core.service_layer import services, views
from ccm_core.service_layer.services import CustomerDetails
from surveys.page import text
from tests.browser.servers import Site, product_site
from tests.service.helpers import outbox, record, staff, to_informed

PHONE = {"width": 390, "height": 844}
TAP_TARGET_PX = 44  # the smallest comfortable tap target on a phone
BRAND_BLUE = "rgb(11, 92, 171)"


@pytest.fixture
def survey_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    with product_site(request, tmp_path) as site:
        yield site


def test_a_customer_answers_the_survey_on_a_phone(
    browser: Browser, survey_site: Site, artefacts: Path
) -> None:
    core = survey_site.core
    reference = record(
        core.unit_of_work(),
        channel="email",
        customer=CustomerDetails(name="Ayşe Yılmaz", email="ayse@example.com"),
    ).reference
    lead = staff(core.unit_of_work(), "elif.kaya@example.com")
    to_informed(core.unit_of_work(), lead, reference)
    services.send_survey(core.unit_of_work(), lead, reference)
    link = next(m for m in outbox(core.unit_of_work(), reference) if m.kind == "survey").payload["link"]
    definition = load_survey(core.settings.survey_file)

    context = browser.new_context(
        locale="en-GB", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    elsewhere: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(survey_site.url) else elsewhere.append(r.url))
    page = context.new_page()
    page.goto(survey_site.url + urlsplit(link).path)

    expect(page.locator("html")).to_have_attribute("lang", "tr")  # the case's language, not the browser's
    expect(page.get_by_text(definition.csat_question("tr", reference))).to_be_visible()
    rating = page.get_by_label(definition.csat.choices("tr")[1].title)
    box = page.locator("label.choice").first.bounding_box()
    assert box is not None and box["height"] >= TAP_TARGET_PX and box["width"] > PHONE["width"] / 2
    send = page.get_by_role("button", name=text("tr", "send"))
    expect(send).to_have_css("background-color", BRAND_BLUE)  # the inline style passed the page's CSP
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling

    rating.check()
    page.get_by_label(definition.comment_question("tr")).fill("Yeni ürün de hasarlı geldi.")
    page.screenshot(path=artefacts / "survey-page.png", full_page=True)
    send.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(text("tr", "thanks.follow_up.heading"))
    expect(page.get_by_text(text("tr", "thanks.follow_up.text", reference=reference))).to_be_visible()
    context.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"
    case = views.get_complaint(core.unit_of_work(), lead, reference)
    assert (case.status, case.follow_up_round) == ("follow_up", 1)
