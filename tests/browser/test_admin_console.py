"""The admin console in a real browser: a wrong password, signing in, the queue by language and frequency,
assigning, a new intent with its answers in three languages, dismissing, the training data and the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from admin.project import AssistantProject
from ccm_core.i18n import translate
from ccm_core.service_layer import access, sessions, teaching
from ccm_core.service_layer.sessions import SignInFailed
from tests.browser.servers import Site, product_site

ADMIN = "admin@example.com"  # Deniz Aksoy, reads Turkish
PASSWORD = "correct horse battery staple"
EN = "en"
HOURS = "what are your opening hours"
TRACKING = "Benim adım Ahmet Yılmaz, kargom nerede? Numaram 0532 123 45 67"
TRACKING_MASKED = "Benim adım <name>, kargom nerede? Numaram <phone>"
INVOICE = "Wo ist meine Rechnung vom Juli?"
NOISE = "asdfgh qwerty"


@pytest.fixture
def console_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The product's web server with an admin's password set and messages the assistant missed."""
    with product_site(request, tmp_path) as site:
        sessions.set_password(site.core.unit_of_work(), ADMIN, PASSWORD)
        for text, language, times, guess, confidence in (
            (INVOICE, "de", 1, "complaint_billing", 0.38),
            (TRACKING, "tr", 2, "check_status", 0.44),
            (HOURS, "en", 3, "greet", 0.21),
            (NOISE, "tr", 1, "out_of_scope", 0.12),
        ):
            for repeat in range(times):
                teaching.keep_unrecognised_message(
                    site.core.unit_of_work(),
                    channel="web",
                    conversation_id=f"web:session-{language}-{repeat}",
                    language=language,
                    text=text,
                    predicted_intent=guess,
                    confidence=confidence,
                    reason="low_confidence",
                )
        yield site


def offline_context(browser: Browser, server: Site, locale: str) -> tuple[BrowserContext, list[str]]:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(server.url) else elsewhere.append(r.url))
    return context, elsewhere


def sign_in(page: Page, language: str, password: str) -> None:
    page.get_by_label(translate(language, "console.login.email")).fill(ADMIN)
    page.get_by_label(translate(language, "console.login.password")).fill(password)
    page.get_by_role("button", name=translate(language, "console.login.submit")).click()


def t(key: str, **params: object) -> str:
    return translate(EN, f"console.{key}", **params)


def group(page: Page, text: str) -> Locator:
    """The queue's entry for a masked text."""
    return page.locator("li.group").filter(has=page.locator("blockquote.text", has_text=text))


def test_a_wrong_password_shows_the_error_in_the_browsers_language(
    browser: Browser, console_server: Site
) -> None:
    context, elsewhere = offline_context(browser, console_server, "de-DE")
    page = context.new_page()
    page.goto(f"{console_server.url}/admin")
    expect(page).to_have_url(f"{console_server.url}/admin/login")  # not signed in yet
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text(translate("de", "console.login.title"))
    sign_in(page, "de", "not the right password")
    expect(page.get_by_role("alert")).to_have_text(SignInFailed().message("de"))
    expect(page).to_have_url(f"{console_server.url}/admin/login")
    expect(page.get_by_label(translate("de", "console.login.password"))).to_have_value("")
    context.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"


def test_an_admin_reviews_the_queue_teaches_the_assistant_and_reads_the_training_data(
    browser: Browser, console_server: Site, artefacts: Path
) -> None:
    context, elsewhere = offline_context(browser, console_server, "en-GB")
    page = context.new_page()
    page.goto(f"{console_server.url}/admin/login")
    expect(page.locator("html")).to_have_attribute("lang", EN)  # the browser's language before signing in
    sign_in(page, EN, PASSWORD)

    expect(page).to_have_url(f"{console_server.url}/admin")
    expect(page.locator("html")).to_have_attribute("lang", "tr")  # the admin's own locale
    expect(page.get_by_role("heading", level=1)).to_have_text(translate("tr", "console.queue.title"))
    page.get_by_role("navigation", name=translate("tr", "console.languages")).get_by_role(
        "link", name="English"
    ).click()
    expect(page.locator("html")).to_have_attribute("lang", EN)
    expect(page.get_by_role("heading", level=1)).to_have_text(t("queue.title"))

    # by frequency, masked
    texts = page.locator("blockquote.text")
    expect(texts).to_have_text([HOURS, TRACKING_MASKED, INVOICE, NOISE])
    expect(page.locator("main")).not_to_contain_text("Ahmet")
    expect(page.locator("main")).not_to_contain_text("0532")
    expect(group(page, HOURS).locator(".count")).to_have_text(t("queue.seen", count=3))
    expect(group(page, HOURS)).to_contain_text("21%")

    # by language
    tabs = page.get_by_role("navigation", name=t("queue.filter"))
    tabs.get_by_role("link", name=t("queue.tab", language="Turkish", count=3)).click()
    expect(texts).to_have_text([TRACKING_MASKED, NOISE])
    expect(tabs.get_by_role("link", name=t("queue.tab", language="Turkish", count=3))).to_have_attribute(
        "aria-current", "page"
    )
    tabs.get_by_role("link", name=t("queue.tab", language=t("queue.all"), count=7)).click()
    expect(texts).to_have_count(4)

    # the form for a new intent, opened, for the picture
    hours = group(page, HOURS)
    hours.locator("summary").click()
    hours.get_by_label(t("queue.new_name")).fill("ask_opening_hours")
    answers = {
        "tr": "Mağazalarımız her gün 09:00–21:00 arası açıktır.",
        "en": "Our shops are open every day from 9 am to 9 pm.",
        "de": "Unsere Filialen haben täglich von 9 bis 21 Uhr geöffnet.",
    }
    for code, answer in answers.items():
        language = translate(EN, f"staff.language.{code}")
        hours.get_by_label(t("queue.answer", language=language)).fill(answer)
    screenshot = artefacts / "admin-console.png"
    page.screenshot(path=screenshot, full_page=True)
    print(f"screenshot of the admin console: {screenshot}")

    # a new intent with its answers in tr, en and de, the group assigned to it
    hours.get_by_role("button", name=t("queue.create")).click()
    status = page.get_by_role("status")
    expect(status).to_have_text(t("queue.created", count=3, intent="ask_opening_hours"))
    expect(texts).to_have_text([TRACKING_MASKED, INVOICE, NOISE])

    # assigning a group to an intent the assistant knows
    invoice = group(page, INVOICE)
    expect(invoice.get_by_role("combobox", name=t("queue.intent"))).to_have_value(
        "complaint_billing"
    )  # its guess first
    invoice.get_by_role("button", name=t("queue.assign")).click()
    expect(status).to_have_text(t("queue.assigned", count=1, intent="complaint_billing"))

    # the tracking question, to the status question the assistant already knows
    tracking = group(page, TRACKING_MASKED)
    tracking.get_by_role("combobox", name=t("queue.intent")).select_option("check_status")
    tracking.get_by_role("button", name=t("queue.assign")).click()
    expect(status).to_have_text(t("queue.assigned", count=2, intent="check_status"))

    # dismissing noise
    group(page, NOISE).get_by_role("button", name=t("queue.dismiss")).click()
    expect(status).to_have_text(t("queue.dismissed", count=1))
    expect(texts).to_have_count(0)
    expect(page.locator("main")).to_contain_text(t("queue.empty"))

    admin = access.staff_actor(console_server.core.unit_of_work(), email=ADMIN)
    assert teaching.review_queue(console_server.core.unit_of_work(), admin) == []
    assert teaching.assigned_counts(console_server.core.unit_of_work()) == {
        ("ask_opening_hours", "en"): 3,
        ("complaint_billing", "de"): 1,
        ("check_status", "tr"): 2,
    }
    learned = teaching.learned_intents(console_server.core.unit_of_work())
    assert [(intent.name, intent.responses) for intent in learned] == [("ask_opening_hours", answers)]

    # the training data per intent and language, with what waits for the next retrain
    page.get_by_role("navigation", name=t("sections")).get_by_role("link", name=t("intents.nav")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("intents.title"))
    counts = AssistantProject().example_counts()
    table = page.get_by_role("table", name=t("intents.caption"))
    billing = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="complaint_billing"))
    expect(billing.get_by_role("cell")).to_have_text(
        [
            str(counts["complaint_billing"]["tr"]),
            str(counts["complaint_billing"]["en"]),
            f"{counts['complaint_billing']['de']} ({t('intents.waiting', count=1)})",
            f"{sum(counts['complaint_billing'].values())} ({t('intents.waiting', count=1)})",
        ]
    )
    new = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="ask_opening_hours"))
    expect(new.get_by_role("rowheader")).to_contain_text(t("intents.new"))
    expect(new.get_by_role("cell").nth(1)).to_have_text(f"0 ({t('intents.waiting', count=3)})")
    learned_section = page.get_by_role("region", name=t("intents.learned_title"))
    expect(learned_section).to_contain_text(answers["de"])
    page.screenshot(path=artefacts / "admin-console-intents.png", full_page=True)

    # the models: nothing trained yet; the button queues a retrain
    page.get_by_role("link", name=t("models.nav")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("models.title"))
    expect(page.locator("main")).to_contain_text(t("models.none"))
    page.get_by_role("button", name=t("models.retrain")).click()
    job = teaching.retrain_requests(console_server.core.unit_of_work(), admin)[0]
    expect(page.get_by_role("status")).to_have_text(t("models.retrain_queued", id=job.id))

    # signing out
    page.get_by_role("button", name=t("sign_out")).click()
    expect(page).to_have_url(f"{console_server.url}/admin/login")
    page.goto(f"{console_server.url}/admin")
    expect(page).to_have_url(f"{console_server.url}/admin/login")
    context.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"
