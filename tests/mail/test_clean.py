"""The customer's own words out of a mail's text: each form of quoted history, header block, signature
and phone footer that Gmail, Apple Mail, Outlook, Thunderbird and GMX write in Turkish, English and
German is cut; the customer's words, and their İ, ı, ş, ğ, ß and ä, are kept."""

from __future__ import annotations

import pytest

from channels.mail_intake.clean import customer_words, html_to_text

QUOTE = "> Your complaint is recorded as CMP-2026-000012.\n> We will keep you informed."


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, 2 Dec 2026 at 10:15, Shop <shop@example.com> wrote:",  # Gmail
        "On Mon, 2 Dec 2026 at 10:15, Complaints <shop@example.com>\nwrote:",  # Gmail, wrapped at 78
        "On Mon, Dec 2, 2026 at 10:15 AM Customer Care\n<shop@example.com> wrote:",  # Gmail US, wrapped
        "On 2 Dec 2026, at 10:15, Shop <shop@example.com> wrote:",  # Apple Mail
        "On 02/12/2026 10:15, Shop wrote:",  # Thunderbird
        "Am 02.12.2026 um 10:15 schrieb Shop <shop@example.de>:",  # Apple Mail, Thunderbird
        "Am Mo., 2. Dez. 2026 um 10:15 Uhr schrieb Shop <shop@example.de>:",  # Gmail
        "2 Ara 2026 Pzt, 10:15 tarihinde Mağaza <shop@example.com.tr> şunu yazdı:",  # Gmail
        "2 Ara 2026 tarihinde 10:15 saatinde, Mağaza <shop@example.com.tr> şunları yazdı:",  # Apple Mail
        "Le lun. 2 déc. 2026 à 10:15, Shop <shop@example.com> a écrit :",  # any client, above a quote
    ],
)
def test_an_attribution_and_the_quote_under_it_are_cut(attribution: str) -> None:
    text = f"Paketim hâlâ gelmedi, İade istiyorum.\n\n{attribution}\n\n{QUOTE}\n"
    assert customer_words(text) == "Paketim hâlâ gelmedi, İade istiyorum."


def test_quoted_lines_without_an_attribution_are_cut() -> None:
    assert customer_words(f"Danke, das hilft.\n{QUOTE}\n>\n") == "Danke, das hilft."


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Orijinal İleti-----",
        "----- ORIGINAL MESSAGE -----",
        "-------- Original-Nachricht --------",  # GMX, web.de
    ],
)
def test_an_outlook_separator_and_everything_after_it_are_cut(separator: str) -> None:
    text = (
        f"Straße und Hausnummer sind jetzt korrigiert.\n\n{separator}\nFrom: Shop\nSent: Monday\n\nOld text."
    )
    assert customer_words(text) == "Straße und Hausnummer sind jetzt korrigiert."


@pytest.mark.parametrize(
    "block",
    [
        "From: Complaints <shop@example.com>\nSent: Monday, December 2, 2026 10:15 AM\n"
        "To: John Smith <john@example.com>\nSubject: Your complaint CMP-2026-000012",
        "Von: Beschwerden <shop@example.de>\nGesendet: Montag, 2. Dezember 2026 10:15\n"
        "An: Jürgen Weiß <j@example.de>\nBetreff: Ihre Beschwerde CMP-2026-000031",
        "Kimden: Şikayet Yönetimi <shop@example.com.tr>\nGönderildi: 2 Aralık 2026 Pazartesi 10:15\n"
        "Kime: Ayşe Demir <ayse@example.com.tr>\nKonu: Şikayetiniz CMP-2026-000007",
        # GMX and web.de put the date first.
        'Gesendet: Montag, 02. Dezember 2026 um 10:15 Uhr\nVon: "Beschwerden" <shop@example.de>\n'
        "An: j@example.de\nBetreff: Ihre Beschwerde",
        # Gmail's rendering of Outlook's bold labels.
        "*From:* Complaints <shop@example.com>\n*Sent:* Monday, December 2, 2026 10:15\n"
        "*To:* john@example.com\n*Subject:* Your complaint",
    ],
)
def test_an_outlook_header_block_and_the_mail_under_it_are_cut(block: str) -> None:
    text = f"Kargo bugün geldi, teşekkürler.\n\n{block}\n\nWe have recorded your complaint."
    assert customer_words(text) == "Kargo bugün geldi, teşekkürler."


def test_the_line_of_underscores_above_an_outlook_block_is_cut_with_it() -> None:
    text = (
        "Ich warte noch.\n\n________________________________\nVon: Beschwerden <shop@example.de>\n"
        "Gesendet: Montag, 2. Dezember 2026 10:15\nAn: j@example.de\nBetreff: Ihre Beschwerde\n\nAlt."
    )
    assert customer_words(text) == "Ich warte noch."


@pytest.mark.parametrize("delimiter", ["-- ", "--"])  # many clients drop the delimiter's trailing space
def test_a_signature_after_its_delimiter_is_cut(delimiter: str) -> None:
    text = f"The kettle still leaks.\n\n{delimiter}\nJohn Smith\nACME Ltd | +44 20 7946 0000\n"
    assert customer_words(text) == "The kettle still leaks."


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from Outlook for Android",
        "Get Outlook for iOS",
        "Sent with Proton Mail secure email.",
        "Von meinem iPhone gesendet",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Gesendet von Mail für Windows",
        "Outlook für Android herunterladen",
        "iPhone'umdan gönderildi",
        "iPhone’umdan gönderildi",  # iOS writes a typographic apostrophe
        "Outlook for Android'den gönderildi",
        "Samsung Galaxy akıllı telefonumdan gönderildi",
        "iOS için Outlook'u edinin",
    ],
)
def test_a_phone_footer_at_the_end_is_cut(footer: str) -> None:
    assert customer_words(f"Ürün kırık geldi, değişim istiyorum.\n\n{footer}\n") == (
        "Ürün kırık geldi, değişim istiyorum."
    )


def test_only_footers_at_the_end_are_cut_not_the_same_words_in_a_sentence() -> None:
    text = "Sent from my iPhone\nthat is where I ordered it, and it never arrived."
    assert customer_words(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "On Monday I wrote to you about it, nobody answered.",
        "On Monday at 10:15 I wrote: where is my refund?",  # a time, but no wrote: at the end
        "Am Montag schrieb ich Ihnen, keine Antwort.",
        "Von: meinem Nachbarn habe ich gehört, dass Sie erstatten.",  # a label, but no header block
        "Dün size yazdım: paketim nerede?",
        "Ich habe 3 -- nicht 2 -- Pakete bestellt.",
    ],
)
def test_the_customers_own_sentences_that_look_like_markers_are_kept(text: str) -> None:
    assert customer_words(text) == text


def test_a_customer_who_wrote_below_the_quote_keeps_their_words() -> None:
    text = (
        "On Mon, 2 Dec 2026 at 10:15, Shop <shop@example.com> wrote:\n"
        "> Your order has shipped.\n\n"
        "It never came. The tracking page says it was delivered to the neighbour.\n\n"
        "-- \nJohn"
    )
    assert customer_words(text) == "It never came. The tracking page says it was delivered to the neighbour."


def test_answers_written_between_the_quoted_questions_are_kept() -> None:
    text = "> What is your order number?\n55102\n> When did you order?\n22 Kasım'da.\n"
    assert customer_words(text) == "55102\n22 Kasım'da."


@pytest.mark.parametrize(
    "text",
    [
        "> Only the quote: the customer sent it back without a word.",
        "Sent from my iPhone",
        "-- \nJohn Smith",
    ],
)
def test_a_mail_is_never_emptied(text: str) -> None:
    assert customer_words(text) == text


def test_the_customers_paragraphs_and_letters_are_kept_and_windows_line_ends_read() -> None:
    text = "İyi günler,\r\n\r\nŞu an ığdır'dayım; paket gelmedi.\r\nGrüße, Jürgen Weiß\r\n\r\n\r\n"
    assert customer_words(text) == "İyi günler,\n\nŞu an ığdır'dayım; paket gelmedi.\nGrüße, Jürgen Weiß"


def test_a_mail_kept_whole_has_its_windows_line_ends_read_too() -> None:
    assert customer_words("> Eski metin.\r\n> İkinci satır.\r\n") == "> Eski metin.\n> İkinci satır."


def test_nothing_is_nothing() -> None:
    assert customer_words(" \n\n ") == ""


# --- HTML ---


def test_html_is_made_plain_without_head_styles_and_scripts_and_with_entities_decoded() -> None:
    markup = (
        "<html><head><title>Şikayet</title><style>p{color:red}</style></head><body>"
        "<script>alert(1)</script><p>Bir &amp; iki &lt;3&gt; &#305;&#x130;&nbsp;&eacute;</p>"
        "<div>üç<br>dört</div></body></html>"
    )
    assert html_to_text(markup) == "Bir & iki <3> ıİ é\nüç\ndört"


def test_blocks_lists_and_table_rows_are_lines_and_cells_are_spaced() -> None:
    markup = (
        "<ul><li>Erstens</li><li>Zweitens</li></ul><table><tr><td>Bestellung</td><td>77120</td></tr>"
        "<tr><th>Betrag</th><td>49,90&nbsp;€</td></tr></table>"
    )
    assert html_to_text(markup) == "Erstens\nZweitens\nBestellung 77120\nBetrag 49,90 €"


def test_source_line_breaks_are_spaces_and_runs_of_blank_lines_collapse() -> None:
    markup = "<div>Hallo\n  Welt</div><div><br></div><div><br></div><div><br></div><div>Grüße</div>"
    assert html_to_text(markup) == "Hallo Welt\n\nGrüße"


def test_whitespace_between_tags_is_not_a_line() -> None:
    assert html_to_text("<body>\n  <div>Eins</div>\n  <div>Zwei</div>\n</body>\n") == "Eins\nZwei"


def test_outlooks_empty_paragraphs_are_blank_lines_and_its_conditional_markup_is_dropped() -> None:
    markup = (
        "<p class=MsoNormal>Eins<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<!--[if gte mso 9]><xml><o:shapedefaults/></xml><![endif]--><p class=MsoNormal>Zwei</p>"
    )
    assert html_to_text(markup) == "Eins\n\nZwei"


def test_a_broken_marked_section_is_skipped_and_the_rest_read() -> None:
    assert html_to_text("<p>Önce</p><![en <p>Sonra</p>") == "Önce\nSonra"


def test_html_quotes_become_quoted_lines_that_cleaning_cuts() -> None:
    markup = (
        '<div dir="ltr">Still waiting.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, 2 Dec '
        "2026 at 10:15, Shop &lt;shop@example.com&gt; wrote:<br></div><blockquote>Recorded.<blockquote>"
        "Older.</blockquote></blockquote></div>"
    )
    text = html_to_text(markup)
    assert text == (
        "Still waiting.\nOn Mon, 2 Dec 2026 at 10:15, Shop <shop@example.com> wrote:\n> Recorded.\n> > Older."
    )
    assert customer_words(text) == "Still waiting."


def test_a_horizontal_rule_is_outlooks_line_of_underscores() -> None:
    markup = (
        "<p>Danke.</p><hr><div><b>Von:</b> Shop<br><b>Gesendet:</b> Montag<br><b>An:</b> ich<br>"
        "<b>Betreff:</b> Beschwerde</div><p>Alt.</p>"
    )
    text = html_to_text(markup)
    assert text == "Danke.\n" + "_" * 32 + "\nVon: Shop\nGesendet: Montag\nAn: ich\nBetreff: Beschwerde\nAlt."
    assert customer_words(text) == "Danke."
