"""jobqueue.dashboard.charts: well-formed SVG that a strict CSP allows (no style, no
script), a tooltip per bucket, gaps for missing data, and a scale that holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial

import pytest

from jobqueue.dashboard.charts import chart, plain

NS = "{http://www.w3.org/2000/svg}"
bar_chart = partial(chart, kind="bars")
sparkline = partial(chart, kind="line")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def elements(root: ET.Element, tag: str, css: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if css in e.get("class", "").split()]


def tooltips(root: ET.Element) -> list[str]:
    return [(e.findtext(f"{NS}title") or "") for e in elements(root, "rect", "hit")]


@pytest.mark.parametrize("draw", [bar_chart, sparkline])
def test_the_svg_is_allowed_by_a_strict_csp(draw: Callable[..., str]) -> None:
    svg = draw([1.0, None, 3.0], labels=["a", "b", "c"], title="t", css_class="errors")
    root = parse(svg)
    for element in root.iter():
        assert "style" not in element.attrib
        assert not [a for a in element.attrib if a.startswith("on")]  # no event handlers
        assert element.tag not in (f"{NS}script", f"{NS}style", f"{NS}foreignObject")
    assert "chart" in root.get("class", "").split() and "errors" in root.get("class", "")
    assert root.get("role") == "img"


def test_bars_have_a_tooltip_each_and_a_gap_where_data_is_missing() -> None:
    root = parse(bar_chart([2.0, None, 0.0, 4.0], labels=["10:00", "10:01", "10:02", "10:03"],
                           title="Throughput", fmt=lambda v: f"{v:g}/min"))  # fmt: skip
    assert tooltips(root) == ["10:00: 2/min", "10:01: no data", "10:02: 0/min", "10:03: 4/min"]
    bars = elements(root, "rect", "bar")
    assert len(bars) == 3  # none for the missing bucket
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[1] == 0 and heights[2] == pytest.approx(2 * heights[0])
    (gap,) = elements(root, "rect", "nodata")
    assert float(gap.get("x", "-1")) == 60  # the second of four buckets on 240 px
    assert root.get("aria-label") == "Throughput: latest 4/min, highest 4/min (10:03)"
    assert root.findtext(f"{NS}title") == "Throughput"


def test_a_fixed_top_keeps_the_scale() -> None:
    root = parse(bar_chart([0.5, 2.0], labels=["a", "b"], title="errors", top=1.0, height=44))
    half, over = (float(b.get("height", "0")) for b in elements(root, "rect", "bar"))
    assert half == pytest.approx(20)  # 44 px less 2 px padding each side, halved
    assert over == pytest.approx(40)  # clipped at the top, never outside the box


def test_the_line_breaks_at_missing_data_and_dots_a_lone_point() -> None:
    root = parse(sparkline([1.0, 2.0, None, 3.0, None, 1.0, 1.0], labels=list("abcdefg"),
                           title="p95"))  # fmt: skip
    (line,) = elements(root, "path", "line")
    assert line.get("d", "").count("M") == 2  # a-b and f-g
    assert len(elements(root, "circle", "dot")) == 1  # d stands alone
    assert len(elements(root, "rect", "nodata")) == 2


def test_text_is_escaped_and_empty_data_reads_as_such() -> None:
    root = parse(sparkline([None, None], labels=["<b>", "a&b"], title='say "no"'))
    assert tooltips(root) == ["<b>: no data", "a&b: no data"]
    assert root.get("aria-label") == 'say "no": no data'
    assert elements(root, "path", "line") == []


def test_labels_must_match_values() -> None:
    with pytest.raises(ValueError, match="3 values but 2 labels"):
        bar_chart([1.0, 2.0, 3.0], labels=["a", "b"], title="t")


def test_plain_numbers() -> None:
    assert [plain(v) for v in (3.0, 0.25, 1 / 3, 1200.0)] == ["3", "0.25", "0.333", "1200"]
