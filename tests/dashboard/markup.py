"""Reading the dashboard's HTML in a test: elements by ``data-testid`` (with their
attributes, unescaped), and the text inside them, through the standard HTML parser
rather than regular expressions over markup."""

from __future__ import annotations

from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


class _Finder(HTMLParser):
    def __init__(self, testid: str) -> None:
        super().__init__(convert_charrefs=True)
        self.testid = testid
        self.found: list[dict[str, str]] = []
        self._open: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if values.get("data-testid") == self.testid:
            values["tag"] = tag
            if tag in _VOID:
                self.found.append({**values, "text": ""})
                return
            self._open.append((tag, values, []))
        elif self._open and tag not in _VOID:
            self._open.append((tag, {}, []))

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            return
        _, values, parts = self._open.pop()
        if self._open:
            self._open[-1][2].extend(parts)
        if values:
            self.found.append({**values, "text": " ".join("".join(parts).split())})

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)


def elements(html: str, testid: str) -> list[dict[str, str]]:
    """Every element with this ``data-testid``: its attributes, ``tag`` and ``text``."""
    finder = _Finder(testid)
    finder.feed(html)
    finder.close()
    return finder.found


def one(html: str, testid: str) -> dict[str, str]:
    """The one element with this ``data-testid`` (the test fails if there are others)."""
    found = elements(html, testid)
    assert len(found) == 1, f"{len(found)} elements with data-testid={testid!r}"
    return found[0]


def text(html: str, testid: str) -> str:
    """The text of the one element with this ``data-testid``, spaces collapsed."""
    return one(html, testid)["text"]
