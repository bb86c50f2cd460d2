"""Charts for the dashboard, computed here and drawn as inline SVG by the staff/_*_chart.html
templates: no JavaScript, no build step. Colours are CSS classes (static/staff/staff.css maps
them to the admin's colour variables), so the charts follow the admin's light and dark themes.
Pure: figures in, geometry out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ROW_HEIGHT = 24
LABEL_WIDTH = 150
BAR_SPACE = 240
VALUE_WIDTH = 110

# Column and line charts: one plot size, scaled down by the browser on narrow screens, where
# their text is drawn larger to be read (static/staff/staff.css: .chart svg text): from
# TICK_FONT in a chart 520 px wide or more to NARROW_FONT in one of 300 px (a small phone's).
WIDTH = 520
HEIGHT = 230
LEFT = 52  # room for the y-axis labels, at least: more when they are long ("₹2,000 Cr")
BOTTOM = 34  # room for the x-axis labels, below the lowest y-axis label at NARROW_FONT
TOP = 12
RIGHT = 8
MAX_X_LABELS = 7
TICK_FONT = 11
NARROW_FONT = 19
# Characters' widths in ems in a wide sans-serif (DejaVu Sans), to make room for a label; the
# rest about a digit's.
EMS = {",": 0.32, ".": 0.32, " ": 0.32, ":": 0.34, "%": 0.95, "r": 0.41, "s": 0.52, "k": 0.58,
       "L": 0.56, "C": 0.7, "B": 0.69, "M": 0.86, "U": 0.73, "S": 0.64, "D": 0.77}  # fmt: skip


# --- Horizontal bars ------------------------------------------------------------------------


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


# --- Axes shared by column and line charts -----------------------------------------------------


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the plot's coordinates
    text: str
    wide_only: bool = False  # an x-axis label left out on a narrow screen


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str  # a class of static/staff/staff.css: chart-1 … chart-8
    hatch: str = ""  # a column's stripes over its colour (HATCHES; "" for none)


# Colour is not enough to tell the series apart (WCAG 1.4.1; one man in twelve reads red and
# green alike): a column's segments are hatched, each series its own way, in the page's
# background colour over the series' colour; tiles of 6 by 6.
HATCHES = {
    "diagonal": "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2",
    "dots": "M3,3 h0",
    "horizontal": "M0,3 h6",
    "crosshatch": "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2 M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2",
    "backslash": "M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2",
    "vertical": "M3,0 v6",
    "grid": "M0,3 h6 M3,0 v6",
    "bricks": "M0,1.5 h3 M3,4.5 h3",
}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


# Round tops for an axis of seconds: ticks then fall on whole quarter-minutes and minutes.
TIME_TOPS = (20, 40, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600, 7200)


def time_ceiling(seconds: float) -> float:
    """The smallest of TIME_TOPS that is at least `seconds` (or `seconds` past the last)."""
    return next((top for top in TIME_TOPS if top >= seconds), seconds)


def _y_ticks(top: float, fmt: Callable[[float], str], unit: float | None = None,
             axis: Callable[[Sequence[float]], list[str]] | None = None) -> list[Tick]:  # fmt: skip
    """Ticks from 0 to `top`, said by `axis` all at once (so that they are said alike) or by
    `fmt` each. With `unit`, the smallest step `fmt` shows (1 for counts, 0.01 for rupees),
    every tick is a whole number of units: a quarter of 10 calls would be labelled "2" at
    2.5."""
    # Quarters of 1, 2 or 10 are round (0.25, 0.5, 2.5); of 2.5 or 5 they are not (1.25), so
    # those tops are cut in fifths.
    parts = 5 if top > 0 and round(top / 10 ** math.floor(math.log10(top)), 6) in (2.5, 5) else 4
    if unit is not None:
        parts = next((n for n in (parts, 9 - parts, 2) if _whole(top / n, unit)), 1)
    plot = HEIGHT - TOP - BOTTOM
    values = [top * n / parts for n in range(parts + 1)]
    texts = axis(values) if axis else [fmt(value) for value in values]
    return [Tick(TOP + plot - plot * n / parts, text) for n, text in enumerate(texts)]


def _whole(value: float, unit: float) -> bool:
    units = value / unit
    return abs(units - round(units)) < 1e-9


def _x_ticks(labels: Sequence[str], centres: Sequence[float]) -> list[Tick]:
    """At most MAX_X_LABELS labels, each clear of the next; on a narrow screen, where they
    are drawn larger, only those clear of the next at NARROW_FONT (the others `wide_only`).
    They are counted back from the last (today, on the dashboard), which is always named."""
    slot = centres[1] - centres[0] if len(centres) > 1 else WIDTH
    widest = max((_ems(label) for label in labels), default=0)
    step = max(-(-len(labels) // MAX_X_LABELS), math.ceil((widest * TICK_FONT + 4) / slot), 1)
    narrow = step * math.ceil((widest * NARROW_FONT + 4) / (step * slot))
    last = len(labels) - 1
    ticks = []
    for i in range(last % step, len(labels), step):
        # Inside the chart: _left makes room for the first label, _right for the last.
        right = centres[i] + _ems(labels[i]) / 2 * NARROW_FONT
        if centres[i] + _ems(labels[i]) / 2 * TICK_FONT <= WIDTH:
            ticks.append(Tick(round(centres[i], 1), labels[i],
                              wide_only=(last - i) % narrow != 0 or right > WIDTH))  # fmt: skip
    return ticks


def _ems(text: str) -> float:
    return sum(EMS.get(c, 0.64) for c in text)


def _centres(count: int, left: int, right: int) -> list[float]:
    slot = (WIDTH - left - right) / max(1, count)
    return [left + slot * (i + 0.5) for i in range(count)]


def _left(y_ticks: Sequence[Tick], labels: Sequence[str]) -> int:
    """The plot's left edge: LEFT, or room for the longest y-axis label and the gap before the
    axis (6), and for the half of the first x-axis label left of the first column."""
    widest = max((_ems(t.text) for t in y_ticks), default=0)
    first = _ems(labels[0]) * NARROW_FONT / 2 if labels else 0
    return max(LEFT, math.ceil(widest * NARROW_FONT) + 6 + 2, math.ceil(first))


def _right(labels: Sequence[str]) -> int:
    """The plot's right margin: RIGHT, or room for the half of the last x-axis label (always
    named, at NARROW_FONT on a phone) right of the last column."""
    return max(RIGHT, math.ceil(_ems(labels[-1]) * NARROW_FONT / 2)) if labels else RIGHT


# --- Stacked columns ---------------------------------------------------------------------------


# What a chart's legend says of the periods it draws apart, given which of its columns (or
# points) are: "the last week, 2 of its 7 days in the range", "today, so far", or "" for none.
PartNote = Callable[[Sequence[bool]], str]


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # the tooltip: "21 Nov: Escalated to a person, 3"
    hatch: str = ""
    part: bool = False  # of a column that holds only part of its period (drawn faded)


@dataclass(frozen=True)
class ColumnChart:
    title: str
    segments: list[Segment]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[Series]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM
    nothing: str = "Nothing in this range."  # said below a chart without a column
    part_note: str = ""  # which columns drawn faded hold only part of their period

    @property
    def empty(self) -> bool:
        return not self.segments

    @property
    def part_key(self) -> str:
        """The legend's line for the faded columns, when one is drawn: "Faded: the last week, 2
        of its 7 days in the range"."""
        return f"Faded: {self.part_note}" if self.part_note else ""

    @property
    def part_css(self) -> str:
        """The colour of the faded key: the first series drawn filled."""
        return next((s.css for s in self.legend if s.css != "chart-live"), "chart-0")

    @property
    def hatches(self) -> list[tuple[str, str]]:
        """(name, SVG path) of the hatches its legend shows, for the chart's <pattern>s."""
        return [(s.hatch, HATCHES[s.hatch]) for s in self.legend if s.hatch]


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    values: Sequence[dict[str, float]],
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    unit: float = 1,
    axis: Callable[[Sequence[float]], list[str]] | None = None,
    left: int = LEFT,
    notes: Sequence[str] | None = None,
    nothing: str = ColumnChart.nothing,
    names: Sequence[str] | None = None,
    part: Sequence[bool] | None = None,
    part_note: PartNote | None = None,
) -> ColumnChart:
    """One column per label, stacked by series; `values[i]` maps series keys to amounts;
    `fmt` says an amount in full (the tooltips), `axis` the y-axis's amounts, all alike and
    short enough for its margin (each as `fmt` says it by default); `unit`: the smallest
    amount `fmt` shows (a whole count by default); `left`: the plot's left edge at least (more
    when its labels need it); `notes[i]`, what the tooltips of column i add ("; 2 calls not
    priced"); `nothing`, what the chart says when it has no column; `names[i]`, what the
    tooltips call column i ("Week of 3 Nov", where the axis says "3 Nov"), its label by
    default; `part[i]`, column i holds only part of its period (a week cut by the range, or
    today's day or week, not over): it is drawn faded, and the legend says so with what
    `part_note` says of the columns drawn faded ("the last week, ..."): a column of nothing
    is not drawn, and calls in progress are an outline, alike in any column, so neither is
    said to be faded."""
    totals = [sum(v.get(s.key, 0) for s in series) for v in values]
    top = nice_ceiling(max(totals, default=0))
    plot = HEIGHT - TOP - BOTTOM
    y_ticks = _y_ticks(top, fmt, unit, axis)
    left = max(left, _left(y_ticks, labels))
    right = _right(labels)
    centres = _centres(len(labels), left, right)
    width = (WIDTH - left - right) / max(1, len(labels)) * 0.7
    segments = []
    faded = [False] * len(labels)
    for n, (label, centre, column, note, cut) in enumerate(zip(
            names or labels, centres, values, notes or [""] * len(labels),
            part or [False] * len(labels), strict=True)):  # fmt: skip
        base = float(HEIGHT - BOTTOM)
        for s in series:
            amount = column.get(s.key, 0)
            if amount <= 0:
                continue
            height = plot * amount / top
            base -= height
            tooltip = f"{label}: {s.label}, {fmt(amount)}{note}"
            segments.append(Segment(round(centre - width / 2, 1), round(base, 1),
                                    round(width, 1), round(height, 1), s.css, tooltip,
                                    s.hatch, cut))  # fmt: skip
            faded[n] = faded[n] or (cut and s.css != "chart-live")
    return ColumnChart(title, segments, _x_ticks(labels, centres), y_ticks, list(series),
                       left=left, right_edge=WIDTH - right, nothing=nothing,
                       part_note=part_note(faded) if part_note and any(faded) else "")  # fmt: skip


# --- Lines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str
    mark: str  # SVG path: the line's marker around (x, y)
    part: bool = False  # of a period the range holds only part of (drawn hollow)


# Each line of a chart is told apart by its dash and its markers' shape as well as its colour:
# (stroke-dasharray, marker), in the order of the chart's lines.
LINE_STYLES = (("", "circle"), ("7 4", "square"), ("2 3", "triangle"), ("9 3 2 3", "diamond"))
MARK_SIZE = 3.5  # half the width of a marker


def marker(shape: str, x: float, y: float, r: float = MARK_SIZE) -> str:
    """The SVG path of a marker of `shape` centred on (x, y), `r` from its centre to its side."""
    if shape == "square":
        return f"M{x - r:.1f},{y - r:.1f}h{2 * r:.1f}v{2 * r:.1f}h{-2 * r:.1f}z"
    if shape == "triangle":
        h = r * 1.2
        return f"M{x:.1f},{y - h:.1f}L{x + h:.1f},{y + r:.1f}L{x - h:.1f},{y + r:.1f}z"
    if shape == "diamond":
        h = r * 1.3
        return f"M{x:.1f},{y - h:.1f}L{x + h:.1f},{y:.1f}L{x:.1f},{y + h:.1f}L{x - h:.1f},{y:.1f}z"
    arc = f"a{r:.1f},{r:.1f} 0 1,0"
    return f"M{x - r:.1f},{y:.1f}{arc} {2 * r:.1f},0{arc} {-2 * r:.1f},0z"


@dataclass(frozen=True)
class Line:
    series: Series
    runs: list[str]  # SVG polyline points, one run per stretch of days with a value
    points: list[Point]
    dash: str  # stroke-dasharray: "" for a solid line
    shape: str  # of its markers: circle, square, triangle, diamond

    @property
    def key_mark(self) -> str:
        """Its marker in the middle of the legend's sample of the line (28 by 12)."""
        return marker(self.shape, 14, 6)

    @property
    def part_mark(self) -> str:
        """Its marker alone, for the legend's key of the hollow points (12 by 12)."""
        return marker(self.shape, 6, 6)


@dataclass(frozen=True)
class LineChart:
    title: str
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM
    part_note: str = ""  # which points drawn hollow stand for part of their period

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)

    @property
    def part_line(self) -> Line | None:
        """The line whose marker the legend's key of the hollow points shows, when one is
        drawn: the first with such a point."""
        return next((line for line in self.lines if any(p.part for p in line.points)), None)

    @property
    def part_key(self) -> str:
        """The legend's line for the hollow points: "Hollow: the last week, ..."."""
        return f"Hollow: {self.part_note}" if self.part_line else ""

    @property
    def legend(self) -> list[Series]:
        return [line.series for line in self.lines]


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[Series, Sequence[float | None]]],
    fmt: Callable[[float], str],
    top: float | None = None,
    left: int = LEFT,
    axis: Callable[[Sequence[float]], list[str]] | None = None,
    names: Sequence[str] | None = None,
    part: Sequence[bool] | None = None,
    part_note: PartNote | None = None,
) -> LineChart:
    """Lines over the labels; a None value (no data that day) breaks the line there; `fmt`,
    `axis`, `left` and `names` as for column_chart; `part` and `part_note` too, a point of
    part of a period drawn hollow (a period without a value has no point to draw, and is not
    said to be hollow)."""
    highest = max((v for _, vs in series for v in vs if v is not None), default=0)
    top = top if top is not None else nice_ceiling(highest)
    plot = HEIGHT - TOP - BOTTOM
    y_ticks = _y_ticks(top, fmt, axis=axis)
    left = max(left, _left(y_ticks, labels))
    right = _right(labels)
    centres = _centres(len(labels), left, right)
    # Markers closer than their size would hide the line's dash: over many days they shrink.
    r = min(MARK_SIZE, (WIDTH - left - right) / max(1, len(labels)) * 0.3)
    lines = []
    hollow = [False] * len(labels)
    for n, (s, values) in enumerate(series):
        dash, shape = LINE_STYLES[n % len(LINE_STYLES)]
        runs: list[list[str]] = []
        points = []
        previous: float | None = None
        for i, (label, x, value, cut) in enumerate(zip(names or labels, centres, values,
                                                       part or [False] * len(labels),
                                                       strict=True)):  # fmt: skip
            if value is None:
                previous = None
                continue
            y = HEIGHT - BOTTOM - plot * min(value, top) / top
            if previous is None:
                runs.append([])
            runs[-1].append(f"{x:.1f},{y:.1f}")
            points.append(Point(round(x, 1), round(y, 1), f"{label}: {s.label}, {fmt(value)}",
                                marker(shape, x, y, r), cut))  # fmt: skip
            hollow[i] = hollow[i] or cut
            previous = value
        lines.append(Line(s, [" ".join(run) for run in runs], points, dash, shape))
    return LineChart(title, lines, _x_ticks(labels, centres), y_ticks, left=left,
                     right_edge=WIDTH - right,
                     part_note=part_note(hollow) if part_note and any(hollow) else "")  # fmt: skip


# --- One call's turns --------------------------------------------------------------------------

TURN_HEIGHT = 150
# Round tops for an axis of a few seconds: its quarter ticks fall on 0.25, 0.5, 1 s, ...
WAIT_TOPS = (1, 2, 4, 6, 8, 10, 20, 40, 60)
WAIT = Series("wait", "Customer waiting for the agent's first words", "chart-1")
TOOLS = Series("tools", "Tools running in the turn", "chart-3")
SILENT = Series("silent", "The agent did not answer", "chart-5")
# The customer's closing words, which she hung up on before an answer was due (support/staff/
# aftercall.py closing_words): no miss, so not in the miss's colour.
CLOSING = Series("closing", "The customer hung up after it", "chart-7")


def wait_ceiling(seconds: float) -> float:
    """The smallest of WAIT_TOPS that is at least `seconds` (a round number past the last)."""
    return next((top for top in WAIT_TOPS if top >= seconds), nice_ceiling(seconds))


def axis_seconds(values: Sequence[float]) -> list[str]:
    """The ticks of one axis of seconds, said alike: each with as many decimals as the one
    that needs most, "0.25 s", "0.50 s", "1.00 s"; "1.5 s", "3.0 s"; "5 s", "10 s". 0 is
    "0 s", as on a money axis (support.money.compact)."""
    decimals = max((_decimals(value) for value in values), default=0)
    return [f"{value:,.{decimals}f} s" if value else "0 s" for value in values]


def _decimals(value: float) -> int:
    """How many decimals say `value` exactly, up to milliseconds: 0.25 -> 2, 1.5 -> 1."""
    return next((n for n in (0, 1, 2) if abs(value - round(value, n)) < 1e-9), 3)


def wait_label(value: float) -> str:
    """A wait people compare by the tenth: 0.95 -> "0.95 s", 12.34 -> "12.3 s"."""
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def turn_chart(
    title: str, turns: Sequence[tuple[str, float | None, float]], *, closing: bool = False
) -> ColumnChart:
    """One column per agent turn: `turns` are (when in the call, as m:ss; seconds the customer
    waited for the agent's first audio, None when it said nothing; seconds tools ran in the
    turn). The tools' column is drawn narrower, over the wait, from the same baseline.
    `closing`: the last turn, unanswered, was the customer's goodbye (not a miss)."""
    top = wait_ceiling(max((max(wait or 0, tools) for _, wait, tools in turns), default=0))
    height = TURN_HEIGHT
    plot = height - TOP - BOTTOM
    whens = [when for when, _, _ in turns]
    right = _right(whens)
    centres = _centres(len(turns), LEFT, right)
    slot = (WIDTH - LEFT - right) / max(1, len(turns))
    segments = []
    for n, ((when, wait, tools), centre) in enumerate(zip(turns, centres, strict=True)):
        base = height - BOTTOM
        if wait is None:  # a stub, so the turn is seen
            said = CLOSING if closing and n == len(turns) - 1 else SILENT
            what = said.label[0].lower() + said.label[1:]
            segments.append(Segment(round(centre - slot * 0.35, 1), base - 4.0,
                                    round(slot * 0.7, 1), 4.0, said.css,
                                    f"{when}: {what}"))  # fmt: skip
        else:
            h = plot * min(wait, top) / top
            segments.append(Segment(round(centre - slot * 0.35, 1), round(base - h, 1),
                                    round(slot * 0.7, 1), round(h, 1), WAIT.css,
                                    f"{when}: answered after {wait_label(wait)}"))  # fmt: skip
        if tools > 0:
            h = plot * min(tools, top) / top
            segments.append(Segment(round(centre - slot * 0.15, 1), round(base - h, 1),
                                    round(slot * 0.3, 1), round(h, 1), TOOLS.css,
                                    f"{when}: tools ran {wait_label(tools)}"))  # fmt: skip
    texts = axis_seconds([top * n / 4 for n in range(5)])
    ticks = [Tick(TOP + plot - plot * n / 4, text) for n, text in enumerate(texts)]
    unanswered = [n for n, (_, wait, _) in enumerate(turns) if wait is None]
    goodbye = closing and len(turns) - 1 in unanswered
    legend = [*([WAIT] if len(unanswered) < len(turns) else []),  # no column of it: no key
              *([TOOLS] if any(t > 0 for *_, t in turns) else []),
              *([SILENT] if len(unanswered) > int(goodbye) else []),
              *([CLOSING] if goodbye else [])]  # fmt: skip
    return ColumnChart(title, segments, _x_ticks(whens, centres), ticks, legend, height=height,
                       right_edge=WIDTH - right, baseline=height - BOTTOM)
