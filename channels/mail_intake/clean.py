"""A mail's text as the intake files it: HTML made plain, and only the customer's own words.

Replies carry our previous mail (quoted, or under an Outlook header block), a signature and a
mobile footer; a complaint or a survey answer must hold none of them. The forms cut here are the
ones Gmail, Apple Mail, Outlook, Thunderbird, GMX and the phone clients write in Turkish, English
and German. A mail is never emptied: when cutting leaves nothing (a customer who answered below the
quote), the lines outside the quote are kept instead.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Content of these elements is never text a reader sees.
_HIDDEN = frozenset({"head", "style", "script", "title", "template"})
# Elements that start and end a line of their own.
_BLOCKS = frozenset(
    {
        "address", "article", "blockquote", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "li", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_RULE = "_" * 32  # how Outlook writes a horizontal rule in its plain-text part
_ASCII_SPACE = re.compile(r"[ \t\r\n\f\v]+")


class _TextExtractor(HTMLParser):
    """Collects an HTML document's visible text line by line; quotes become "> " lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._hidden = 0
        self._quote_depth = 0

    def _break(self, hard: bool = False) -> None:
        """End the current line; a soft break (a block's edge) never makes an empty line, <br> does."""
        text = "".join(self._line).replace("\xa0", " ").strip()
        if self._line or hard:
            self.lines.append(("> " * self._quote_depth + text).rstrip() if text else "")
        self._line = []

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        """Skips a marked section the parser does not know ("<![en" in broken Outlook markup), which
        Python 3.11's parser refuses with an AssertionError instead of reading on."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return end + 1 if end >= 0 else len(self.rawdata)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self._break(hard=True)
        elif tag == "hr":
            self._break()
            self.lines.append(_RULE)
        elif tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self._quote_depth += 1
        elif tag in _CELLS and self._line:
            self._line.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)

    def close(self) -> None:
        super().close()
        self._break()  # the last line, when the markup ends without closing its block

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        collapsed = _ASCII_SPACE.sub(" ", data)  # source line breaks are spaces in HTML; &nbsp; stays
        if collapsed.strip(" ") or self._line:  # whitespace between tags is not a line of its own
            self._line.append(collapsed)


def html_to_text(html: str) -> str:
    """The text a reader of an HTML-only mail sees, with <blockquote> history marked as "> " quotes."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return _collapse_blank_runs(extractor.lines)


def _collapse_blank_runs(lines: list[str]) -> str:
    """One blank line at most between paragraphs, none at either end."""
    kept: list[str] = []
    for line in (line.rstrip() for line in lines):
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")


# "On Mon, 2 Dec 2026 at 10:15, Name <a@b.c> wrote:" (Gmail, Apple Mail, Thunderbird),
# "Am 02.12.2026 um 10:15 schrieb Name <a@b.c>:", "2 Ara 2026 Pzt, 10:15 tarihinde Name <a@b.c> şunu
# yazdı:". A time of day is required, so a customer's "On Monday I wrote:" stays.
_TIME = r"\d{1,2}:\d{2}"
_ATTRIBUTION = re.compile(
    rf"^\s*(?:on\s.*{_TIME}.*\swrote:|am\s.*{_TIME}.*\sschrieb\s.*:|.*{_TIME}.*\s(?:\S+\s)?yazdı:)\s*$",
    re.IGNORECASE,
)
# Any other client's attribution right above a quote: ends with a colon, names an address or a time.
_LOOSE_ATTRIBUTION = re.compile(rf"^.*(?:@|{_TIME}).*:\s*$")
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|orijinal ileti)\s*-{2,}\s*$",
    re.IGNORECASE,  # which matches "İleti" to "ileti" too
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
# Outlook's (and GMX's, web.de's) header block of the mail replied to, in any order of its lines;
# "*From:*" is how Gmail renders Outlook's bold labels.
_LABELS = {
    "from": ("from", "von", "kimden"),
    "sent": ("sent", "date", "gesendet", "datum", "gönderildi", "gönderilme tarihi", "tarih"),
    "to": ("to", "an", "kime"),
    "subject": ("subject", "betreff", "konu"),
}
_LABEL = re.compile(
    r"^\s*\*?(" + "|".join(label for labels in _LABELS.values() for label in labels) + r"):\*?\s",
    re.IGNORECASE,
)
_BLOCK_WINDOW = 8  # lines an Outlook header block may span (long recipient lists wrap)
_SIGNATURE = re.compile(r"^--\s?$")
_APOSTROPHE = "['’]"
_FOOTER = re.compile(
    r"^\s*(?:sent (?:from|with|via) .{1,60}"  # Sent from my iPhone, Sent from Outlook for Android
    r"|get outlook for (?:ios|android)"
    r"|von (?:meinem|meiner|outlook|mail) .{1,60}gesendet"  # Von meinem iPhone gesendet
    r"|gesendet (?:von|mit) .{1,60}"  # Gesendet von Mail für Windows
    r"|outlook für (?:ios|android) herunterladen"
    rf"|\S.{{0,60}}(?:{_APOSTROPHE}?[dt][ae]n) gönderildi"  # iPhone'umdan gönderildi
    rf"|(?:ios|android) için outlook{_APOSTROPHE}u edinin"
    r")\.?\s*$",
    re.IGNORECASE,
)


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_lines(lines: list[str]) -> set[int]:
    """Indexes of attribution lines, including one wrapped over two lines and any client's above a quote."""
    found: set[int] = set()
    for i, line in enumerate(lines):
        if _ATTRIBUTION.match(line):
            found.add(i)
        elif i + 1 < len(lines) and lines[i + 1].strip() and _ATTRIBUTION.match(f"{line} {lines[i + 1]}"):
            found.update((i, i + 1))
        elif _quoted(line) and i and not _quoted(lines[i - 1]):
            above = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
            if above is not None and not _quoted(lines[above]) and _LOOSE_ATTRIBUTION.match(lines[above]):
                found.add(above)
    return found


def _header_block(lines: list[str], start: int) -> bool:
    """Whether an Outlook header block (from, date and subject at least) begins at this line."""
    if not _LABEL.match(lines[start]):
        return False
    kinds: set[str] = set()
    for line in lines[start : start + _BLOCK_WINDOW]:
        match = _LABEL.match(line)
        if match:
            label = match.group(1).lower()
            kinds.update(kind for kind, labels in _LABELS.items() if label in labels)
    return {"from", "sent", "subject"} <= kinds


def _history_start(lines: list[str], attributions: set[int]) -> int:
    """The first line of what the customer did not write: our quoted mail and its header."""
    for i, line in enumerate(lines):
        if i in attributions or _quoted(line) or _SEPARATOR.match(line):
            return i
        if _header_block(lines, i):
            above = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
            return above if above is not None and _UNDERSCORES.match(lines[above]) else i
    return len(lines)


def _without_signature(lines: list[str]) -> list[str]:
    """Lines before the "-- " delimiter, less the phone's one-line footers at the end."""
    end = next((i for i, line in enumerate(lines) if _SIGNATURE.match(line)), len(lines))
    kept = lines[:end]
    while kept and (not kept[-1].strip() or _FOOTER.match(kept[-1])):
        kept.pop()
    return kept


def customer_words(text: str) -> str:
    """The body without quoted history, signature and phone footer; never empty when the body is not."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    attributions = _attribution_lines(lines)
    own = _without_signature(lines[: _history_start(lines, attributions)])
    if not "".join(own).strip():  # bottom posting, or answers between the quoted lines
        unquoted = [line for i, line in enumerate(lines) if i not in attributions and not _quoted(line)]
        own = _without_signature(unquoted)
    return _collapse_blank_runs(own) or text.strip()
