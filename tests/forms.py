"""What a browser would post from an admin page: every named input, select and textarea."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(
                a.get("value") or ("on" if kind == "checkbox" else "")
            )
        elif tag == "select" and name and "disabled" not in a:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += (
                data.removeprefix("\n") if not self.data[self._textarea][0] else data
            )


def posted(page, form_id: str | None = None, **changes) -> dict[str, list[str]]:
    """The data a browser posts from the page's main form, with `changes` applied."""
    text = page.content.decode()
    if form_id is not None:
        start = text.index(f'id="{form_id}"')
        text = text[text.rindex("<form", 0, start) : text.index("</form>", start)]
    reader = _FormReader()
    reader.feed(text)
    data = reader.data
    data.pop("csrfmiddlewaretoken", None)
    for name, value in changes.items():
        data[name] = value if isinstance(value, list) else [value]
    return data
