"""Versions of what a person reviewed: a short digest of the facts a page showed, posted back with
a decision so that the decision applies to exactly those facts and nothing changed since."""

import hashlib


def version_of(*facts: object) -> str:
    """A digest of the facts, in order; any change of one gives another version."""
    return hashlib.sha256("\x1f".join(repr(fact) for fact in facts).encode()).hexdigest()[:20]
