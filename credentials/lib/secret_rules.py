"""The rules a client secret typed by a person must meet (custom secrets of API credentials).

Plain Python: the form shows the problems beside the field, the service refuses the same ones
whoever calls it (page, command line, REST API). Reuse within the account needs the database and
is checked by the service.
"""

import string

MIN_LENGTH = 32
MAX_LENGTH = 128
MIN_DISTINCT = 10
# RFC 3986's unreserved characters: safe in a URL, a form body and HTTP Basic without escaping.
SYMBOLS = "-._~"
ALPHABET = frozenset(string.ascii_letters + string.digits + SYMBOLS)
ALPHABET_LABEL = "letters A–Z and a–z, digits 0–9 and the symbols - . _ ~"
CLASSES = {
    "upper-case letters": frozenset(string.ascii_uppercase),
    "lower-case letters": frozenset(string.ascii_lowercase),
    "digits": frozenset(string.digits),
    "symbols": frozenset(SYMBOLS),
}
RULES = (
    f"{MIN_LENGTH} to {MAX_LENGTH} characters: {ALPHABET_LABEL}",
    f"not all of one kind: mix at least two of upper-case, lower-case, digits, symbols; "
    f"at least {MIN_DISTINCT} different characters",
    "not the secret of another credential of your account",
)
RULES_HELP = "A typed secret needs " + "; ".join(RULES) + "."


def custom_secret_problems(value: str) -> list[str]:
    """What is wrong with a typed client secret, in words for the person who typed it; [] if nothing."""
    problems = []
    if len(value) < MIN_LENGTH:
        plural = "s" if len(value) != 1 else ""
        problems.append(f"It has {len(value)} character{plural}; it needs at least {MIN_LENGTH}.")
    elif len(value) > MAX_LENGTH:
        problems.append(f"It has {len(value)} characters; at most {MAX_LENGTH} are allowed.")
    outside = sorted({char for char in value if char not in ALPHABET})
    if outside:
        shown = " ".join("space" if char == " " else repr(char)[1:-1] for char in outside[:8])
        problems.append(f"It contains characters that are not allowed: {shown}. Use only {ALPHABET_LABEL}.")
    classes = [name for name, chars in CLASSES.items() if any(char in chars for char in value)]
    if value and not outside and len(classes) < 2:
        problems.append(f"It uses only {classes[0] if classes else 'one kind of character'}; mix at least two kinds.")
    if value and len(set(value)) < MIN_DISTINCT:
        problems.append(f"It has only {len(set(value))} different characters; use at least {MIN_DISTINCT}.")
    return problems
