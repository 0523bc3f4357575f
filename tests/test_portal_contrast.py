"""The portal's colours: every text colour on every background the stylesheet puts it on
reaches WCAG's AAA contrast (7:1), as portal.css says, for a pharmacy counter's tablet
in daylight. A colour added to the stylesheet must be placed in the pairs below."""

from __future__ import annotations

import re
from pathlib import Path

import rempart.portal

CSS = Path(rempart.portal.__file__).parent / "static" / "portal.css"
AAA = 7.0
WHITE = "#ffffff"

# (text, background) as portal.css uses them; names are its custom properties.
TEXT_ON = {
    "ink": ["paper", "wash", "warn-bg", "focus", "#e8f0fb", "#fde8ea"],
    "muted": ["paper", "wash", "warn-bg", "#e8f0fb", "#fde8ea"],
    "brand": ["paper", "wash", "#e8f0fb", WHITE],
    "brand-dark": ["paper", "wash"],
    "good": ["paper", "wash"],
    "bad": ["paper", "wash", "#fde8ea"],
    WHITE: ["brand", "brand-dark", "good", "#00441f"],
}
# Borders and rules only (WCAG 1.4.11 asks 3:1 of the warning border against its fill).
NOT_TEXT = {"line", "#b35c00"}


def _variables(css: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))


def _hex(name: str, variables: dict[str, str]) -> str:
    return name if name.startswith("#") else variables[name]


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert round(contrast("#000000", WHITE), 2) == 21.0
    assert round(contrast("#767676", WHITE), 2) == 4.54  # WCAG's well-known AA grey


def test_every_text_colour_reaches_aaa_on_its_backgrounds() -> None:
    variables = _variables(CSS.read_text())
    weak = [(text, back, round(contrast(_hex(text, variables), _hex(back, variables)), 2))
            for text, backs in TEXT_ON.items() for back in backs
            if contrast(_hex(text, variables), _hex(back, variables)) < AAA]
    assert weak == []


def test_no_colour_in_the_stylesheet_escapes_the_check() -> None:
    css = CSS.read_text()
    variables = _variables(css)
    known = {_hex(name, variables).lower() for pair in TEXT_ON.items()
             for name in (pair[0], *pair[1])}
    known |= {_hex(name, variables).lower() for name in NOT_TEXT}
    used = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", css)}
    used |= {"#ffffff" for _ in re.findall(r"#fff\b", css)}
    assert used - known == set()
    warning = contrast("#b35c00", variables["warn-bg"])
    assert warning >= 3.0
