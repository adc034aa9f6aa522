"""The rule of names and labels people type (credentials.lib.text): tidied, or refused with the reason."""

import pytest

from credentials.lib import text


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Billing sync  ", "Billing sync"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC composes
        ("\uff41\uff43\uff4d\uff45", "\uff41\uff43\uff4d\uff45"),  # NFC leaves fullwidth alone
    ],
)
def test_tidy_is_nfc_without_surrounding_whitespace(typed, stored):
    assert text.tidy(typed) == stored


def test_tidy_of_an_identifier_is_nfkc():
    assert text.tidy("\uff41\uff43\uff4d\uff45-dev", identifier=True) == "acme-dev"


@pytest.mark.parametrize(
    "value",
    [
        "Billing sync",
        "Москва",
        "Αθήνα",
        "東京 API",
        "سلام\u200cدنیا",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "ERP-42",
    ],
    ids=["latin", "cyrillic", "greek", "cjk", "persian-zwnj", "emoji-zwj", "reference"],
)
def test_text_in_any_one_script_passes(value):
    assert text.problem(value) is None


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ("a\x00b", "It contains a control character (U+0000)"),
        ("a\x1bb", "It contains a control character (U+001B)"),
        ("a\nb", "It contains a line break"),
        ("abc\u202edef", "It contains an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("a\u2066b", "It contains an invisible character (U+2066 LEFT-TO-RIGHT ISOLATE)"),
        ("a\u200bb", "It contains an invisible character (U+200B ZERO WIDTH SPACE)"),
        ("\ufeffa", "It contains an invisible character (U+FEFF ZERO WIDTH NO-BREAK SPACE)"),
        ("a\u2028b", "It contains an invisible character (U+2028 LINE SEPARATOR)"),
        ("a\ud800", "It contains an invalid character (U+D800, a lone surrogate)"),
        ("a\uffff", "It contains U+FFFF, which is not a character"),
        ("a\ufffd", "It contains U+FFFD"),
        ("\u0430cme", "“\u0430cme” mixes Cyrillic and Latin letters"),
        ("Billing \u03bfps", "“\u03bfps” mixes Greek and Latin letters"),
    ],
)
def test_problem_names_the_character(value, start):
    assert text.problem(value).startswith(start)


def test_descriptions_keep_line_breaks_and_tabs_but_not_other_controls():
    assert text.problem("Line one\r\n\tLine two", line_breaks=True) is None
    assert text.problem("Line one\x07", line_breaks=True).startswith("It contains a control character")


def test_references_may_mix_scripts():
    assert text.problem("\u0430cme-42", one_script_words=False) is None
    assert text.problem("ERP\u202e42", one_script_words=False) is not None


def test_tidy_leaves_a_lone_surrogate_for_problem_to_report():
    assert text.tidy(" a\ud800 ") == "a\ud800"
    assert text.problem(text.tidy(" a\ud800 ")) is not None
