"""Text people type as names and labels (a credential's short description and reference, a tenant's
alias, an API's name and description, a runtime target's name): what is tidied, what is refused.

Tidied: Unicode NFC (the same word typed on two keyboards is one value) and no surrounding
whitespace. Identifiers that must be unique and are picked from lists (tenant aliases, runtime
target names) get NFKC, so a fullwidth "ａｃｍｅ" is "acme" and meets the uniqueness check.

Refused, with the reason: what cannot be stored or shown faithfully. Control characters (NUL
breaks PostgreSQL text columns; line breaks in a one-line name), format characters that are
invisible or reorder what is displayed (bidi overrides such as U+202E, zero-width spaces, the
BOM), lone surrogates (no UTF-8 encodes them: every later page or answer would fail),
noncharacters, U+FFFD (bytes that were not text), and in names a word that mixes Latin, Greek
and Cyrillic letters ("аcme" with a Cyrillic "а"), the homoglyph trick. A name wholly in another
script is fine; references are kept exactly as sent (clients look them up by equality), so they
are refused, never tidied.
"""

import unicodedata

# Joiners that Persian, Indic scripts and emoji sequences need: the only format characters allowed.
JOINERS = frozenset({"\u200c", "\u200d"})

LOOKALIKE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def unstorable(value: str) -> bool:
    """Whether the text holds NUL (PostgreSQL refuses it in text and jsonb) or a lone surrogate (no
    UTF-8 holds one): what no column or answer can carry, whatever the field."""
    return "\x00" in value or any(_is_surrogate(char) for char in value)


def tidy(value: str, *, identifier: bool = False) -> str:
    """NFC (NFKC for identifiers) without surrounding whitespace. Lone surrogates are left for
    problem() to report: normalising cannot fix them."""
    if any(_is_surrogate(char) for char in value):
        return value.strip()
    return unicodedata.normalize("NFKC" if identifier else "NFC", value).strip()


def problem(value: str, *, line_breaks: bool = False, one_script_words: bool = True) -> str | None:
    """Why `value` cannot be stored as it is (a sentence for people), or None. `line_breaks`
    allows line breaks and tabs (descriptions); `one_script_words` refuses a word mixing Latin,
    Greek and Cyrillic letters (names, not references)."""
    for char in value:
        reason = _character_problem(char, line_breaks=line_breaks)
        if reason:
            return reason
    if one_script_words:
        for word in _words(value):
            scripts = sorted({_script(char) for char in word} & LOOKALIKE_SCRIPTS)
            if len(scripts) > 1:
                mixed = " and ".join(script.title() for script in scripts)
                return f"“{word}” mixes {mixed} letters, which look alike. Write each word in one script."
    return None


def _character_problem(char: str, *, line_breaks: bool) -> str | None:
    code = f"U+{ord(char):04X}"
    if _is_surrogate(char):
        return f"It contains an invalid character ({code}, a lone surrogate)."
    category = unicodedata.category(char)
    if category == "Cc":
        if line_breaks and char in "\n\r\t":
            return None
        if char in "\n\r":
            return "It contains a line break. Keep it on one line."
        return f"It contains a control character ({code})."
    if (category == "Cf" and char not in JOINERS) or category in ("Zl", "Zp"):
        name = unicodedata.name(char, "")
        described = f"{code} {name}" if name else code
        return f"It contains an invisible character ({described}) that changes how text is shown. Remove it."
    if _is_noncharacter(char):
        return f"It contains {code}, which is not a character."
    if char == "\ufffd":  # what decoding puts where the bytes were not text (Django does for forms)
        return "It contains U+FFFD, the mark of text that could not be read. Type it again."
    return None


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _words(value: str) -> list[str]:
    words, current = [], []
    for char in value:
        if unicodedata.category(char).startswith(("L", "M")):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _script(char: str) -> str:
    # The first word of a letter's Unicode name is its script for the scripts that matter here
    # ("CYRILLIC SMALL LETTER A"); marks and other letters answer something outside LOOKALIKE_SCRIPTS.
    return unicodedata.name(char, "").split(" ", 1)[0]
