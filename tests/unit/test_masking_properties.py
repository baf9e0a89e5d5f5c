"""No personal data survives masking, whatever words surround it (property-based).

Messages the assistant missed are kept for admins to teach it; before they are stored, names
introduced as names, e-mail addresses, phone numbers, complaint references and other long
numbers are replaced. Hypothesis builds messages in Turkish, English and German around
generated personal data and checks that none of it is left, that the words around it are, and
that masking twice changes nothing more.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ccm_core.domain.privacy import MASKS, mask_personal_data

WORDS = st.sampled_from(
    [
        "kargo", "gelmedi", "hala", "bekliyorum", "lütfen", "yardım", "fatura", "iade",
        "parcel", "missing", "still", "waiting", "please", "help", "refund", "invoice",
        "Paket", "fehlt", "immer", "noch", "bitte", "Hilfe", "Rechnung", "Erstattung",
    ]
)  # fmt: skip
LOWER = "abcdefghijklmnopqrstuvwxyzçğıöşüäß"
FIRST = "ABCDEFGHIJKLMNOPRSTUVYZÇĞİÖŞÜÄ"

names = st.builds(
    lambda first, rest: first + rest, st.sampled_from(FIRST), st.text(LOWER, min_size=2, max_size=9)
)
full_names = st.lists(names, min_size=1, max_size=3).map(" ".join)
intros = st.sampled_from(
    ["my name is", "I am", "this is", "benim adım", "adım", "ismim", "mein Name ist", "ich heiße", "ich bin"]
)
emails = st.builds(
    "{}{}@{}.{}".format,
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.sampled_from(["", ".", "_", "+", "-"]).flatmap(
        lambda sep: st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=6).map(
            lambda s: sep + s if s else ""
        )
    ),
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10),
    st.sampled_from(["com", "com.tr", "de", "org", "net", "info"]),
)
phones = st.builds(
    "{}{} {} {} {}".format,
    st.sampled_from(["+90 ", "+49 ", "0", "+44 ", ""]),
    st.integers(200, 599),
    st.integers(100, 999),
    st.integers(10, 99),
    st.integers(10, 99),
)
references = st.builds("CMP-{}-{:06d}".format, st.integers(2020, 2035), st.integers(1, 999_999))
long_numbers = st.integers(10_000, 10**12).map(str)
secrets = st.one_of(
    emails.map(lambda v: ("email", v)),
    phones.map(lambda v: ("phone", v)),
    references.map(lambda v: ("reference", v)),
    long_numbers.map(lambda v: ("number", v)),
)


@settings(max_examples=400, deadline=None)
@given(
    before=st.lists(WORDS, max_size=6).map(" ".join),
    found=st.lists(secrets, min_size=1, max_size=4),
    after=st.lists(WORDS, max_size=6).map(" ".join),
)
def test_contact_details_references_and_numbers_never_survive(before: str, found: list, after: str) -> None:
    message = " ".join(part for part in (before, " , ".join(value for _, value in found), after) if part)
    masked = mask_personal_data(message)
    for kind, value in found:
        assert value not in masked, f"{kind} {value!r} survived in {masked!r}"
    digits = sum(ch.isdigit() for ch in masked)
    assert digits == 0, f"digits of personal data left in {masked!r}"
    for word in (before + " " + after).split():
        assert word in masked  # the words that say what went wrong stay
    assert mask_personal_data(masked) == masked


@settings(max_examples=300, deadline=None)
@given(intro=intros, name=full_names, after=st.lists(WORDS, max_size=5).map(" ".join))
def test_a_name_introduced_as_a_name_never_survives(intro: str, name: str, after: str) -> None:
    message = f"Merhaba, {intro} {name}. {after}".strip()
    masked = mask_personal_data(message)
    assert MASKS["name"] in masked
    for part in name.split():
        assert part not in masked.split(), f"{part!r} of {name!r} survived in {masked!r}"
    assert mask_personal_data(masked) == masked


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=12).map(" ".join))
def test_a_message_without_personal_data_is_kept_as_it_was(message: str) -> None:
    assert mask_personal_data(message) == message
