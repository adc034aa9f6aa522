"""The otpauth:// URI as an inline SVG QR code (the CSP allows no data: images outside /api/docs)."""

import re

import qrcode
import qrcode.image.svg
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_SIZE = re.compile(r'width="[^"]*" height="[^"]*"')


def qr_svg(uri: str, *, label: str) -> SafeString:
    """SVG markup of a QR code for `uri`: white background, 200 px square, an accessible name."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, border=4)
    markup = image.to_string(encoding="unicode")
    markup = markup.removeprefix("<?xml version='1.0' encoding='UTF-8'?>\n")
    markup = _SIZE.sub('width="200" height="200"', markup, count=1)
    markup = markup.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    # qrcode's own markup (a path drawn from the URI's modules), never user input; the label is escaped.
    return mark_safe(markup)  # noqa: S308
