"""Small SVG charts for the overview (throughput, error rate, p95, queue latency): bars or
a line (``chart(values, kind="bars" | "line", ...)``), each a self-contained ``<svg>``
string, drawn on the server so a page needs no chart library and works without
JavaScript.

The dashboard's Content-Security-Policy forbids inline styles and scripts, so the SVG
carries neither: it is styled by its ``class`` attributes from the dashboard's CSS
(``chart``, ``chart-bars`` / ``chart-line``, ``bar``, ``line``, ``dot``, ``nodata``,
``axis``, ``hit``), with presentation attributes only as defaults that keep it legible
without the stylesheet (``currentColor``; CSS overrides them). Every bucket has an
invisible full-height ``hit`` area holding a ``<title>``: the browser shows it as the
bucket's tooltip, even where the bar is zero high. The chart as a whole is a
``role="img"`` whose ``aria-label`` says its title and what a reader would look for
(the latest and the highest value).

A value of None is a bucket with no data (not zero): no bar and a break in the line,
with a ``nodata`` band a stylesheet can shade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

#: How a value reads in a tooltip: ``12``, ``0.25``.
Formatter = Callable[[float], str]
#: Bars for counts per bucket, a line for a level over time (a percentile, a rate).
Kind = Literal["bars", "line"]

_PAD = 2.0  # keeps the line's stroke and the top bar inside the box
#: The chart stretches to its box (preserveAspectRatio="none"); its lines must not.
_THIN = {"vector-effect": "non-scaling-stroke"}


def plain(value: float) -> str:
    """The default formatter: up to three significant decimals, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Frame:
    """The chart's box and scale, shared by both kinds."""

    width: float
    height: float
    count: int
    top: float

    @property
    def step(self) -> float:
        """The width of one bucket."""
        return self.width / self.count

    def y(self, value: float) -> float:
        """The vertical position of ``value`` (0 at the bottom, ``top`` at the top)."""
        usable = self.height - 2 * _PAD
        return self.height - _PAD - usable * min(value, self.top) / self.top


def chart(
    values: Sequence[float | None],
    *,
    kind: Kind,
    labels: Sequence[str],
    title: str,
    fmt: Formatter = plain,
    top: float | None = None,
    width: int = 240,
    height: int = 48,
    css_class: str = "",
) -> str:
    """One bucket per value, left to right: ``kind="bars"``, a bar each; ``"line"``, a
    line through their middles, broken where a value is None (a point with no neighbour
    is a dot). ``labels`` name the buckets in tooltips, ``fmt`` writes their values;
    ``top`` fixes the scale (1.0 for a rate), else the highest value sets it;
    ``css_class`` is added to the ``<svg>``'s classes (e.g. to colour one chart)."""
    frame = _frame(values, labels, width, height, top)
    if kind == "bars":
        marks = [_bar(frame, i, v) for i, v in enumerate(values) if v is not None]
    else:
        marks = _line(frame, values)
    return _svg(frame, f"chart-{kind}", css_class, title, values, labels, fmt, marks)


def _frame(
    values: Sequence[float | None],
    labels: Sequence[str],
    width: int,
    height: int,
    top: float | None,
) -> _Frame:
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values but {len(labels)} labels")
    highest = max((v for v in values if v is not None), default=0.0)
    scale = top if top is not None and top > 0 else highest
    return _Frame(width=width, height=height, count=max(1, len(values)), top=scale or 1.0)


def _bar(frame: _Frame, index: int, value: float) -> str:
    y = frame.y(max(0.0, value))
    gap = min(1.0, frame.step / 4)
    return _tag("rect", css="bar", x=index * frame.step + gap / 2, y=y,
                width=frame.step - gap, height=frame.height - _PAD - y,
                fill="currentColor")  # fmt: skip


def _line(frame: _Frame, values: Sequence[float | None]) -> list[str]:
    runs: list[list[tuple[float, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(((index + 0.5) * frame.step, frame.y(max(0.0, value))))
    path = " ".join(
        "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in run) for run in runs if len(run) > 1
    )
    dots = [
        _tag("circle", css="dot", cx=run[0][0], cy=run[0][1], r=1.5, fill="currentColor")
        for run in runs
        if len(run) == 1
    ]
    line = (
        [_tag("path", css="line", d=path, fill="none", stroke="currentColor", **_THIN)]
        if path
        else []
    )
    return line + dots


def _svg(
    frame: _Frame,
    kind: str,
    css_class: str,
    title: str,
    values: Sequence[float | None],
    labels: Sequence[str],
    fmt: Formatter,
    marks: list[str],
) -> str:
    summary = _summary(title, values, labels, fmt)
    classes = " ".join(c for c in ("chart", kind, css_class) if c)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(classes)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" role="img" aria-label="{escape(summary)}" '
        'preserveAspectRatio="none">',
        f"<title>{escape(title)}</title>",
        *_nodata(frame, values),
        _tag(
            "line",
            css="axis",
            x1=0,
            y1=frame.height - _PAD,
            x2=frame.width,
            y2=frame.height - _PAD,
            stroke="currentColor",
            **_THIN,
        ),
        *marks,
        *_hits(frame, values, labels, fmt),
        "</svg>",
    ]
    return "".join(parts)


def _nodata(frame: _Frame, values: Sequence[float | None]) -> list[str]:
    return [
        _tag(
            "rect",
            css="nodata",
            x=i * frame.step,
            y=0,
            width=frame.step,
            height=frame.height,
            fill="none",
        )
        for i, v in enumerate(values)
        if v is None
    ]


def _hits(
    frame: _Frame, values: Sequence[float | None], labels: Sequence[str], fmt: Formatter
) -> list[str]:
    """The tooltip areas, drawn last so that they are on top of the marks."""
    return [
        _tag(
            "rect",
            css="hit",
            x=i * frame.step,
            y=0,
            width=frame.step,
            height=frame.height,
            fill="none",
            **{"pointer-events": "all"},
            title=f"{label}: {'no data' if v is None else fmt(v)}",
        )
        for i, (v, label) in enumerate(zip(values, labels, strict=True))
    ]


def _summary(
    title: str, values: Sequence[float | None], labels: Sequence[str], fmt: Formatter
) -> str:
    known = [(v, label) for v, label in zip(values, labels, strict=True) if v is not None]
    if not known:
        return f"{title}: no data"
    latest = known[-1][0]
    highest, at = max(known, key=lambda pair: pair[0])
    return f"{title}: latest {fmt(latest)}, highest {fmt(highest)} ({at})"


def _tag(name: str, *, css: str, title: str | None = None, **attrs: float | str) -> str:
    """One element; numbers rounded to 0.01, text escaped; ``title`` becomes a child."""
    text = " ".join(f'{key}="{_attr(value)}"' for key, value in attrs.items())
    head = f'<{name} class="{css}" {text}'
    return f"{head}/>" if title is None else f"{head}><title>{escape(title)}</title></{name}>"


def _attr(value: float | str) -> str:
    return escape(value) if isinstance(value, str) else _num(value)


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
