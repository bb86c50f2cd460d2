"""Small horizontal bar charts, computed here and drawn as inline SVG by staff/_bar_chart.html."""

from __future__ import annotations

from dataclasses import dataclass

ROW_HEIGHT = 24
LABEL_WIDTH = 130
BAR_SPACE = 260
VALUE_WIDTH = 110


@dataclass(frozen=True)
class Bar:
    label: str
    display: str  # the value as people read it ("₹1,250.00", "3")
    y: int
    width: int

    @property
    def text_y(self) -> int:
        return self.y + ROW_HEIGHT // 2 + 4

    @property
    def value_x(self) -> int:
        return LABEL_WIDTH + self.width + 6


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    width: int = LABEL_WIDTH + BAR_SPACE + VALUE_WIDTH
    label_width: int = LABEL_WIDTH
    bar_height: int = ROW_HEIGHT - 6

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * ROW_HEIGHT


def bar_chart(title: str, rows: list[tuple[str, int, str]]) -> BarChart:
    """`rows` are (label, value, display); bars are scaled to the largest value."""
    top = max((value for _, value, _ in rows), default=0)
    bars = [
        Bar(
            label=label,
            display=display,
            y=index * ROW_HEIGHT,
            width=round(BAR_SPACE * value / top) if top > 0 else 0,
        )
        for index, (label, value, display) in enumerate(rows)
    ]
    return BarChart(title=title, bars=bars)
