"""HTML from string templates in which every substituted value is escaped, unless it is already `Html`."""

from __future__ import annotations

import html
from string import Template


class Html(str):
    """Text that is already HTML (a rendered template): substituted as it is."""

    __slots__ = ()


def escape(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def render(template: Template, **values: object) -> Html:
    """Fill a template; every value is escaped (autoescaping), a missing one raises KeyError."""
    return Html(template.substitute({name: escape(value) for name, value in values.items()}))


def join(fragments: list[Html]) -> Html:
    return Html("".join(fragments))


ALERT = Template("""<p class="message error" role="alert">$text</p>""")


def alert(text: str | None) -> Html:
    """What went wrong, above a form shown again (nothing when nothing did)."""
    return render(ALERT, text=text) if text else Html("")


STYLESHEET_PATH = "/account/pages.css"
ICON_PATH = "/account/favicon.svg"

LAYOUT = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title · CookCam</title>
<link rel="stylesheet" href="$stylesheet">
<link rel="icon" href="$icon" type="image/svg+xml">
</head>
<body>
<main>
<p class="brand">CookCam</p>
<h1>$title</h1>
$content
</main>
</body>
</html>
"""
)


def document(title: str, content: Html) -> Html:
    return render(LAYOUT, title=title, content=content, stylesheet=STYLESHEET_PATH, icon=ICON_PATH)
