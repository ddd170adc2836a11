"""Email templates without a build step: `<name>.txt` (first line `Subject: ...`, a blank line, the text part) and
`<name>.html` beside it, filled with `string.Template` (`$name`). Values are escaped for the HTML part; the text
part takes them as they are. A missing value is an error, never an empty hole."""

from __future__ import annotations

import functools
import html
import string
from collections.abc import Mapping
from pathlib import Path

import msgspec


class RenderedEmail(msgspec.Struct, frozen=True):
    subject: str
    text: str
    html: str


@functools.cache
def _load(directory: Path, name: str) -> tuple[string.Template, string.Template, string.Template]:
    head, blank, body = (directory / f"{name}.txt").read_text(encoding="utf-8").partition("\n\n")
    if not head.startswith("Subject: ") or "\n" in head or not blank:
        raise ValueError(f"{name}.txt must start with one 'Subject: ...' line and a blank line")
    page = (directory / f"{name}.html").read_text(encoding="utf-8")
    return string.Template(head.removeprefix("Subject: ")), string.Template(body), string.Template(page)


def render_email(directory: Path, name: str, values: Mapping[str, str]) -> RenderedEmail:
    subject, text, page = _load(directory, name)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    # Header injection is impossible: a subject is one line whatever a value holds.
    one_line = " ".join(subject.substitute(values).split())
    return RenderedEmail(subject=one_line, text=text.substitute(values), html=page.substitute(escaped))
