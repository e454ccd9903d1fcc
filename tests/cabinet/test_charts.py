"""Server-drawn charts (C7): the data of `app.services.charts` and the SVG the macro makes of it."""
from __future__ import annotations

import datetime as dt

import pytest
from flask import render_template_string

from app.services import charts

SERIES = [charts.Series("success", "Talked", "#0a0"), charts.Series("", "No outcome", "#999")]
DAYS = [(dt.date(2026, 3, 1), {"success": 3, "": 1}), (dt.date(2026, 3, 2), {}),
        (dt.date(2026, 3, 3), {"success": 8})]


def render(app, chart: charts.Chart) -> str:
    with app.test_request_context():
        return render_template_string('{% from "portal/_charts.html" import chart %}{{ chart(c) }}', c=chart)


def test_the_value_axis_ends_on_a_round_number():
    assert [charts.nice_top(v) for v in (0, 1, 3, 7, 10, 11, 22, 48, 101, 950, 1001)] == [
        1, 1, 3, 7, 10, 15, 25, 50, 150, 1000, 1500]


def test_stacked_days_stack_each_days_outcomes_in_proportion():
    chart = charts.stacked_days(DAYS, SERIES, "Per day", "desc", "Total", "Day")
    assert [bar.title for bar in chart.bars] == ["2026-03-01: Talked — 3", "2026-03-01: No outcome — 1",
                                                 "2026-03-03: Talked — 8"]
    first, second, third = chart.bars
    assert first.y == second.y + second.height  # the second segment sits on the first
    assert third.height == pytest.approx(8 / 3 * first.height)
    assert third.height == charts.PLOT_HEIGHT * 8 / 8  # the axis ends at the highest day: 8
    assert chart.rows == [["2026-03-01", 3, 1, 4], ["2026-03-02", 0, 0, 0], ["2026-03-03", 8, 0, 8]]
    assert chart.head == ["Day", "Talked", "No outcome", "Total"] and chart.legend == SERIES
    assert all(0 <= bar.x and bar.x + bar.width <= chart.width for bar in chart.bars)


def test_a_long_period_keeps_its_day_labels_apart():
    days = [(dt.date(2026, 1, 1) + dt.timedelta(days=n), {"success": n}) for n in range(90)]
    chart = charts.stacked_days(days, SERIES, "t", "d", "Total", "Day")
    assert len(chart.texts) <= charts.MAX_X_LABELS and len(chart.rows) == 90
    assert len(chart.legend) == 1  # only the series that occur


def test_hours_are_24_columns_and_sources_beyond_ten_are_summed():
    hours = charts.columns([0] * 9 + [5] + [0] * 13 + [2], [f"{h:02d}" for h in range(24)], "#00f", "t", "d",
                           ["Hour", "Requests"], "hours")
    assert len(hours.rows) == 24 and [bar.title for bar in hours.bars] == ["09: 5", "23: 2"]
    sources = charts.horizontal([(f"s{n}", n) for n in range(1, 13)], "#00f", "t", "d", ["Source", "Requests"],
                                "sources", "Other")
    assert [row[0] for row in sources.rows][:2] == ["s12", "s11"]
    assert sources.rows[-1] == ["Other", 1 + 2 + 3]  # s1..s3 summed as the tenth row
    assert len(sources.bars) == charts.SOURCE_ROWS


def test_the_svg_is_accessible_scalable_and_escapes_every_label(app):
    chart = charts.horizontal([("<script>alert(1)</script>", 2), ("a\"b", 1)], "#00f", "Sources & more",
                              "desc <b>", ["Source", "Requests"], "sources", "Other")
    svg = render(app, chart)
    assert f'<svg viewBox="0 0 {charts.WIDTH} ' in svg and 'width="100%"' in svg and 'role="img"' in svg
    assert '<title id="chart-sources-title">Sources &amp; more</title>' in svg
    assert '<desc id="chart-sources-desc">desc &lt;b&gt;</desc>' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&#34;b" in svg
    assert '<details>' in svg and 'data-testid="chart-sources-table"' in svg
    assert "http" not in svg.replace("http://www.w3.org", "")  # nothing loaded from elsewhere
