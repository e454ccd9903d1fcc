"""Charts of the statistics page (C7) as plain data: bars, axis texts, a legend and the same numbers as a table.

The SVG itself is drawn by the macro in `app/templates/portal/_charts.html` from this data, so every label goes
through Jinja's escaping. Coordinates are in the chart's own viewBox units; the page scales the SVG to its width.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

WIDTH = 420
LEFT = 36  # room for the value axis
TOP = 8
PLOT_HEIGHT = 160
AXIS_ROOM = 20  # under the plot: the category labels
MAX_X_LABELS = 8
SOURCE_ROWS = 10  # the most frequent sources; the rest are summed as one row
ROW_HEIGHT = 22
LABEL_CHARS = 18


@dataclasses.dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str  # the bar's own tooltip: what and how many


@dataclasses.dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclasses.dataclass(frozen=True)
class Chart:
    key: str
    title: str
    desc: str
    width: int
    height: int
    bars: list[Bar]
    texts: list[Text]
    grid: list[Text]  # value lines across the plot: y and the value written beside
    legend: list[Series]
    head: list[str]  # the table of the same numbers
    rows: list[list[str | int]]

    @property
    def is_empty(self) -> bool:
        return not self.bars


def nice_top(value: int) -> int:
    """The top of the value axis: `value` itself up to 10, above it the next round number (15, 20, 25, 30, 40…)."""
    if value <= 10:
        return max(value, 1)
    power = 10 ** math.floor(math.log10(value))
    return next(int(step * power) for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value)


def _grid(top: int) -> list[Text]:
    """Value lines at 0, ½ and the top of the axis (whole numbers only), labelled left of the plot."""
    values = sorted({0, top // 2, top})
    return [Text(LEFT - 4, TOP + PLOT_HEIGHT * (1 - value / top), str(value), "end") for value in values]


def _x_labels(labels: Sequence[str], slot: float) -> list[Text]:
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    y = TOP + PLOT_HEIGHT + 14
    return [Text(LEFT + slot * (index + 0.5), y, label) for index, label in enumerate(labels) if index % step == 0]


def stacked_days(days: Sequence[tuple[dt.date, dict[str, int]]], series: Sequence[Series], title: str, desc: str,
                 total_label: str, day_label: str) -> Chart:
    """Requests per day, one stacked bar a day, a segment per series (outcome) in the order given."""
    plot_width = WIDTH - LEFT - 4
    slot = plot_width / max(len(days), 1)
    top = nice_top(max((sum(counts.values()) for _day, counts in days), default=0))
    bars = []
    for index, (day, counts) in enumerate(days):
        base = 0
        for item in series:
            count = counts.get(item.key, 0)
            if count:
                height = PLOT_HEIGHT * count / top
                bars.append(Bar(LEFT + slot * index + slot * 0.1, TOP + PLOT_HEIGHT * (1 - base / top) - height,
                                slot * 0.8, height, item.color, f"{day.isoformat()}: {item.label} — {count}"))
                base += count
    used = [item for item in series if any(counts.get(item.key) for _day, counts in days)]
    labels = [day.strftime("%d.%m") for day, _counts in days]
    rows = [[day.isoformat(), *(counts.get(item.key, 0) for item in used), sum(counts.values())]
            for day, counts in days]
    return Chart("days", title, desc, WIDTH, TOP + PLOT_HEIGHT + AXIS_ROOM, bars, _x_labels(labels, slot),
                 _grid(top), used, [day_label, *(item.label for item in used), total_label], rows)


def columns(values: Sequence[int], labels: Sequence[str], color: str, title: str, desc: str, head: list[str],
            key: str) -> Chart:
    """One bar per value (e.g. the 24 hours of the day)."""
    plot_width = WIDTH - LEFT - 4
    slot = plot_width / max(len(values), 1)
    top = nice_top(max(values, default=0))
    bars = [Bar(LEFT + slot * index + slot * 0.1, TOP + PLOT_HEIGHT * (1 - value / top), slot * 0.8,
                PLOT_HEIGHT * value / top, color, f"{label}: {value}")
            for index, (label, value) in enumerate(zip(labels, values, strict=True)) if value]
    rows = [[label, value] for label, value in zip(labels, values, strict=True)]
    return Chart(key, title, desc, WIDTH, TOP + PLOT_HEIGHT + AXIS_ROOM, bars, _x_labels(labels, slot),
                 _grid(top), [], head, rows)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def horizontal(items: Sequence[tuple[str, int]], color: str, title: str, desc: str, head: list[str], key: str,
               other_label: str) -> Chart:
    """One horizontal bar per item, most first; past `SOURCE_ROWS` items the rest are summed as `other_label`."""
    items = sorted(items, key=lambda item: -item[1])
    if len(items) > SOURCE_ROWS:
        items = [*items[:SOURCE_ROWS - 1], (other_label, sum(count for _label, count in items[SOURCE_ROWS - 1:]))]
    label_room, count_room = 120, 40
    plot_width = WIDTH - label_room - count_room
    top = max((count for _label, count in items), default=0) or 1
    bars, texts = [], []
    for index, (label, count) in enumerate(items):
        y = TOP + ROW_HEIGHT * index
        width = plot_width * count / top
        bars.append(Bar(label_room, y + 3, max(width, 1), ROW_HEIGHT - 6, color, f"{label}: {count}"))
        texts.append(Text(label_room - 6, y + ROW_HEIGHT / 2 + 4, _short(label), "end"))
        texts.append(Text(label_room + width + 4, y + ROW_HEIGHT / 2 + 4, str(count), "start"))
    height = TOP * 2 + ROW_HEIGHT * max(len(items), 1)
    return Chart(key, title, desc, WIDTH, height, bars, texts, [], [], head,
                 [[label, count] for label, count in items])
