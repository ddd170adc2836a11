"""Email templates: values escaped in the HTML part, taken as they are in the text part, one-line subjects."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.mail.templates import render_email


def _templates(tmp_path: Path) -> Path:
    (tmp_path / "notice.txt").write_text("Subject: Hello $name\n\nHi $name, open $link\n")
    (tmp_path / "notice.html").write_text('<p>Hi $name, <a href="$link">open</a></p>\n')
    return tmp_path


def test_html_values_are_escaped_and_text_values_are_not(tmp_path: Path) -> None:
    rendered = render_email(
        _templates(tmp_path), "notice", {"name": '<b>"Ada"</b>', "link": "https://x.example/?a=1&b=2"}
    )
    assert rendered.subject == 'Hello <b>"Ada"</b>'
    assert rendered.text == 'Hi <b>"Ada"</b>, open https://x.example/?a=1&b=2\n'
    assert (
        rendered.html
        == '<p>Hi &lt;b&gt;&quot;Ada&quot;&lt;/b&gt;, <a href="https://x.example/?a=1&amp;b=2">open</a></p>\n'
    )


def test_a_subject_stays_one_line_and_a_missing_value_is_an_error(tmp_path: Path) -> None:
    rendered = render_email(_templates(tmp_path), "notice", {"name": "Ada\r\nBcc: x@example.com", "link": "l"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    with pytest.raises(KeyError):
        render_email(_templates(tmp_path), "notice", {"name": "Ada"})
