"""Figures and display tables for the Trends page (plotly, rendered offline by st.plotly_chart).

Every point a chart can select carries ``customdata`` = [series key, first day, last day] (the
small multiples: [category, region_id, first day, last day]), so a selection maps back to the
filters without looking the figure up again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dashboard.analytics.trends import (
    COMPSTAT_LABELS,
    COMPSTAT_WINDOWS,
    WEEKDAYS,
    AnomalyRule,
    Granularity,
    split_key,
)
from dashboard.views.formatting import plotly_text

ANOMALY_COLOUR = "#c0392b"
LINE_COLOUR = "#34495e"
BASELINE_COLOUR = "#7f8c8d"
# Ten clearly different hues first (d3's category10: Plotly's own ten hold two pinks and two
# oranges, issue 14), then Dark24's for an eleventh series on; a baseline takes its series'.
PALETTE = list(dict.fromkeys(qualitative.D3 + qualitative.Dark24))
WEBGL_POINTS = 5_000  # above this many points per chart, lines are drawn with WebGL
BUCKET_WORDS = {"day": "day", "week": "week", "month": "month of"}
METHOD_NAMES = {"poisson": "Poisson", "negative_binomial": "negative binomial"}
CORRECTION_NAMES = {"benjamini_hochberg": "Benjamini-Hochberg (false discovery rate)",
                    "bonferroni": "Bonferroni (family-wise error)", "none": "no correction"}
WINDOW_UNITS = {"day": "days", "week": "weeks", "month": "months"}
SMALL_MULTIPLES_TEXT_CHARS = 150  # characters across a page-wide grid's column titles
ROW_TITLE_CHARS = 24  # a row title's line, in the 200 px left margin
SMALL_MULTIPLE_ROW_PX = 84
MISSING = "—"  # a rate with no residents to divide by: never 0, never "None"


def series_label(key: str, labels: Mapping[str, str]) -> str:
    """Display name of a series key (a category within a region: 'Narcotics · Bay Area')."""
    return " · ".join(labels.get(part, part) for part in split_key(key))


def _customdata(frame: pl.DataFrame) -> list[list[str]]:
    return [[key, str(start), str(end)] for key, start, end in
            frame.select("series", "start", "end").iter_rows()]


def bucket_x(frame: pl.DataFrame, granularity: Granularity) -> list[date]:
    """Where a bucket's point sits: a week's on its last day (the latest week's point on the
    last day shown, as its caption says), a day's on it, a month's on its first."""
    return frame["end" if granularity == "week" else "bucket_start"].to_list()


def _bucket_text(frame: pl.DataFrame, granularity: Granularity) -> list[str]:
    word = BUCKET_WORDS[granularity]
    if granularity == "week":
        # The days counted: a week cut by the period shows only its days inside.
        return [f"{word} {start:%d %b} – {end:%d %b %Y}" + (f" ({days} days)" if partial
                                                          else "")
                for start, end, days, partial in zip(
                    frame["start"], frame["end"], frame["days"],
                    partial_buckets(frame, granularity),
                    strict=True)]
    fmt = "%b %Y" if granularity == "month" else "%d %b %Y"
    return [f"{word} {start:{fmt}}" + (f" ({days} days in view)" if granularity != "day"
                                       and partial else "")
            for start, days, partial in zip(
                frame["bucket_start"], frame["days"], partial_buckets(frame, granularity),
                strict=True)]


def partial_buckets(frame: pl.DataFrame, granularity: Granularity) -> list[bool]:
    if granularity == "day":
        return [False] * frame.height
    if granularity == "week":
        return [days < 7 for days in frame["days"]]
    return [start.day != 1 or end.day != _month_days(end) for start, end in
            frame.select("start", "end").iter_rows()]


def _month_days(day: date) -> int:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (following - date(day.year, day.month, 1)).days


def series_figure(series: pl.DataFrame, labels: Mapping[str, str], granularity: Granularity,
                  rule: AnomalyRule, title: str, height: int = 460) -> go.Figure:
    """One line per series (solid: incidents; dashed, same colour: its trailing baseline) and
    a ring on each anomaly. Series ordered by their total, busiest first."""
    figure = go.Figure()
    if series.is_empty():
        return _empty(figure, title, "No incidents under these filters in the period.", height)
    totals = series.group_by("series").agg(pl.col("incidents").sum()).sort(
        ["incidents", "series"], descending=[True, False])
    scatter = go.Scattergl if series.height * 2 > WEBGL_POINTS else go.Scatter
    window = f"trailing {rule.baseline_buckets} {WINDOW_UNITS[granularity]}"
    for number, key in enumerate(totals["series"]):
        rows = series.filter(pl.col("series") == key).sort("bucket_start")
        name = series_label(key, labels)
        colour = PALETTE[number % len(PALETTE)]
        when = _bucket_text(rows, granularity)
        expected = rows["expected"].to_list()
        figure.add_trace(scatter(
            x=bucket_x(rows, granularity), y=rows["incidents"].to_list(),
            name=plotly_text(name),
            legendgroup=key, mode="lines+markers", line={"color": colour, "width": 2},
            # Hollow: a bucket partly outside the period (fewer days, lower count and baseline).
            marker={"size": 6, "symbol": ["circle-open" if cut else "circle"
                                          for cut in partial_buckets(rows, granularity)]},
            customdata=_customdata(rows),
            text=[f"{w}: {_count(n)}" + ("" if e is None else f" (baseline {e:,.1f})")
                  for w, n, e in zip(when, rows["incidents"], expected, strict=True)],
            hovertemplate=f"<b>{plotly_text(name)}</b><br>%{{text}}<extra></extra>",
        ))
        figure.add_trace(scatter(
            x=bucket_x(rows, granularity), y=expected, name=plotly_text(f"{name} baseline"),
            legendgroup=key, showlegend=False, mode="lines",
            line={"color": colour, "width": 1.5, "dash": "dash"}, opacity=0.7,
            customdata=_customdata(rows),
            hovertemplate=f"{plotly_text(name)} baseline ({window}): %{{y:,.1f}}<extra></extra>",
        ))
    flagged = series.filter(pl.col("anomaly")).sort("series", "bucket_start")
    if not flagged.is_empty():
        figure.add_trace(go.Scatter(
            x=bucket_x(flagged, granularity), y=flagged["incidents"].to_list(),
            name="Anomaly", mode="markers", customdata=_customdata(flagged),
            marker={"symbol": "circle-open", "size": 16, "color": ANOMALY_COLOUR,
                    "line": {"width": 3}},
            text=[_anomaly_text(row, labels, granularity) for row in
                  flagged.iter_rows(named=True)],
            hovertemplate="%{text}<extra></extra>",
        ))
    starts = pl.Series(bucket_x(series, granularity)).unique().sort()
    if len(starts) == 1:
        # One bucket: plotly would zoom to milliseconds around the lone point.
        figure.update_xaxes(range=[starts[0] - timedelta(days=7), starts[0] + timedelta(days=7)])
    figure.update_layout(
        title={"text": title, "font": {"size": 15}}, height=height, hovermode="closest",
        margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "v"},
        xaxis={"title": None, "type": "date"}, yaxis={"title": "incidents", "tickformat": ",",
                                      "rangemode": "tozero"},
    )
    return figure


def _count(incidents: int | None) -> str:
    # None: a small count withheld from a partner (small-cell suppression).
    return "a small count (withheld)" if incidents is None else f"{incidents:,} incidents"


def _anomaly_text(row: Mapping[str, object], labels: Mapping[str, str],
                  granularity: Granularity) -> str:
    name = plotly_text(series_label(str(row["series"]), labels))
    return (f"<b>Anomaly · {name}</b><br>{row['start']} – {row['end']}: "
            f"{row['incidents']:,} incidents, {row['expected']:,.1f} expected "
            f"(×{row['ratio']:.1f}), p = {row['p_value']:.2g}")


def _empty(figure: go.Figure, title: str, message: str, height: int) -> go.Figure:
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper",
                          yref="paper", font={"size": 14})
    figure.update_layout(title={"text": title, "font": {"size": 15}}, height=height,
                         xaxis={"visible": False}, yaxis={"visible": False},
                         margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return figure


def hour_weekday_figure(counts: pl.DataFrame, title: str, height: int = 330) -> go.Figure:
    """Heat map: weekday rows (Monday on top), hour columns, incidents as colour."""
    grid = [[0] * 24 for _ in WEEKDAYS]
    for weekday, hour, incidents in counts.select("weekday", "hour", "incidents").iter_rows():
        grid[weekday][hour] = incidents
    figure = go.Figure(go.Heatmap(
        z=grid, x=[f"{hour:02d}" for hour in range(24)], y=list(WEEKDAYS),
        colorscale="YlOrRd", colorbar={"title": "incidents", "thickness": 12},
        hovertemplate="%{y} %{x}:00–%{x}:59 · %{z:,} incidents<extra></extra>",
    ))
    figure.update_layout(
        title={"text": title, "font": {"size": 15}}, height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": "local hour of day", "dtick": 2},
        yaxis={"autorange": "reversed"},
    )
    return figure


def small_multiples_figure(cells: pl.DataFrame, category_labels: Mapping[str, str],
                           region_labels: Mapping[str, str], granularity: Granularity,
                           title: str) -> go.Figure:
    """A grid of small series: a row per category, a column per region, dashed baselines and
    rings on anomalies. A row's cells share one y scale (one category compared across the
    regions; labelled once, on the left), and every cell the time axis (labelled once, at the
    bottom); scales differ between rows, so a rare category's shape still shows."""
    if cells.is_empty():
        return _empty(go.Figure(), title, "No incidents under these filters in the period.", 300)
    parts = cells.with_columns(
        pl.col("series").str.split_exact("|", 1).struct.rename_fields(
            ["category", "region_id"])).unnest("series").with_columns(
        pl.concat_str("category", "region_id", separator="|").alias("series"))
    categories = _ordered(parts["category"].unique().to_list(), category_labels)
    regions = _ordered(parts["region_id"].unique().to_list(), region_labels)
    figure = make_subplots(
        rows=len(categories), cols=len(regions), shared_xaxes="all", shared_yaxes="rows",
        horizontal_spacing=0.015, vertical_spacing=min(0.025, 0.6 / max(len(categories), 1)),
        # Full names, broken into lines that fit a column of a page-wide chart.
        column_titles=[_wrapped(plotly_text(region_labels.get(r, r)),
                                SMALL_MULTIPLES_TEXT_CHARS // len(regions)) for r in regions],
    )
    scatter = go.Scattergl if cells.height * 3 > WEBGL_POINTS else go.Scatter
    for row, category in enumerate(categories, start=1):
        for col, region in enumerate(regions, start=1):
            rows = parts.filter((pl.col("category") == category)
                                & (pl.col("region_id") == region)).sort("bucket_start")
            if rows.is_empty():
                # On the page, not on the cell's axes: plotly places a matched axis' "domain"
                # reference in the wrong cell.
                x_domain, y_domain = (figure.layout[_axis_name(letter, row, col, regions)].domain
                                      for letter in "xy")
                figure.add_annotation(text="no incidents", showarrow=False, xref="paper",
                                      yref="paper", x=sum(x_domain) / 2, y=sum(y_domain) / 2,
                                      font={"size": 10, "color": BASELINE_COLOUR})
                continue
            _add_cell(figure, scatter, rows, category, region, category_labels, region_labels,
                      granularity, row, col)
    for row, category in enumerate(categories, start=1):
        y_domain = figure.layout[_axis_name("y", row, 1, regions)].domain
        figure.add_annotation(text=_wrapped(plotly_text(category_labels.get(category, category)),
                                            ROW_TITLE_CHARS),
                              xref="paper", x=0, xshift=-30, xanchor="right", align="right",
                              yref="paper", y=sum(y_domain) / 2, showarrow=False,
                              font={"size": 12}, name="row title")
    starts = pl.Series(bucket_x(cells, granularity)).unique().sort()
    span_days = (starts[-1] - starts[0]).days
    # A set date range: a cell without data (or one bucket) would otherwise widen the shared
    # time axis to plotly's default range.
    pad = timedelta(days=max(span_days * 0.04, 1))
    figure.update_xaxes(type="date", range=[starts[0] - pad, starts[-1] + pad],
                        tickfont={"size": 10}, nticks=4,
                        tickformat="%b %Y" if span_days > 180 else "%d %b")
    # autorange said outright: with the x range set, plotly would otherwise give every row
    # the first row's y range.
    figure.update_yaxes(autorange=True, rangemode="tozero", tickfont={"size": 9}, nticks=3,
                        tickformat=",")
    figure.update_annotations(font_size=12, selector={"yanchor": "bottom"})  # column titles
    figure.update_layout(
        title={"text": title, "font": {"size": 15}}, height=80 + SMALL_MULTIPLE_ROW_PX
        * len(categories), margin={"l": 200, "r": 10, "t": 120, "b": 10},
    )
    return figure


def _axis_name(letter: str, row: int, col: int, regions: Sequence[str]) -> str:
    """The layout key ('yaxis', 'yaxis7', ...) of a grid cell's axis."""
    number = (row - 1) * len(regions) + col
    return f"{letter}axis" if number == 1 else f"{letter}axis{number}"


def _add_cell(figure: go.Figure, scatter: type[go.Scatter] | type[go.Scattergl],
              rows: pl.DataFrame, category: str, region: str,
              category_labels: Mapping[str, str], region_labels: Mapping[str, str],
              granularity: Granularity, row: int, col: int) -> None:
    """One cell's incidents, dashed baseline and anomaly rings."""
    custom = [[category, region, str(s), str(e)]
              for s, e in rows.select("start", "end").iter_rows()]
    name = plotly_text(f"{category_labels.get(category, category)} · "
                       f"{region_labels.get(region, region)}")
    when = _bucket_text(rows, granularity)
    figure.add_trace(scatter(
        x=bucket_x(rows, granularity), y=rows["incidents"].to_list(),
        mode="lines+markers", line={"color": LINE_COLOUR, "width": 1.3},
        marker={"size": 3}, showlegend=False, customdata=custom,
        text=[f"{w}: {_count(n)}" for w, n in zip(when, rows["incidents"], strict=True)],
        hovertemplate=f"{name}<br>%{{text}}<extra></extra>",
    ), row=row, col=col)
    figure.add_trace(scatter(
        x=bucket_x(rows, granularity), y=rows["expected"].to_list(), mode="lines",
        line={"color": BASELINE_COLOUR, "width": 1, "dash": "dash"}, showlegend=False,
        hoverinfo="skip", customdata=custom,
    ), row=row, col=col)
    flagged = rows.filter(pl.col("anomaly"))
    if not flagged.is_empty():
        figure.add_trace(go.Scatter(
            x=bucket_x(flagged, granularity), y=flagged["incidents"].to_list(),
            mode="markers", showlegend=False,
            marker={"symbol": "circle-open", "size": 10, "color": ANOMALY_COLOUR,
                    "line": {"width": 2}},
            customdata=[[category, region, str(s), str(e)] for s, e in
                        flagged.select("start", "end").iter_rows()],
            text=[f"{n:,} vs {x:,.1f} expected, p = {p:.2g}" for n, x, p in
                  flagged.select("incidents", "expected", "p_value").iter_rows()],
            hovertemplate=f"<b>Anomaly</b> · {name}<br>%{{text}}<extra></extra>",
        ), row=row, col=col)


def _wrapped(title: str, width: int) -> str:
    """A title broken into lines of about ``width`` characters (plotly's <br>), every word
    kept."""
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _ordered(values: Sequence[str], labels: Mapping[str, str]) -> list[str]:
    """Config order first (labels' order), then anything else alphabetically."""
    known = [key for key in labels if key in values]
    return known + sorted(set(values) - set(known))


def anomaly_table(found: pl.DataFrame, labels: Mapping[str, str]) -> pl.DataFrame:
    """The anomaly list for display: names, not keys."""
    return found.with_columns(
        pl.col("series").map_elements(lambda key: series_label(key, labels),
                                      return_dtype=pl.String).alias("series"),
    )


# The anomaly list as the page shows it: headers, in order.
ANOMALY_HEADERS = {"series": "Series", "start": "From", "end": "To", "incidents": "Observed",
                   "expected": "Expected", "ratio": "× baseline", "p_value": "p",
                   "adjusted_p": "Adjusted p"}
P_FLOOR = 0.001  # below it a p-value reads "< 0.001": more digits say nothing to a reader


def p_text(p: float | None) -> str:
    """A p-value as a reader takes it in: '< 0.001', else three significant digits ('0.0123',
    never '5.87e-65'); MISSING for none."""
    if p is None:
        return MISSING
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.3g}"


def anomaly_rows(found: pl.DataFrame) -> pl.DataFrame:
    """An :func:`anomaly_table` as shown, under :data:`ANOMALY_HEADERS`: days as '24 Nov 2026',
    p-values by :func:`p_text`, expected and ratio to one decimal."""
    return found.select(
        pl.col("series"),
        *[pl.col(day).dt.strftime("%d %b %Y") for day in ("start", "end")],
        pl.col("incidents"),
        *[pl.col(value).round(1) for value in ("expected", "ratio")],
        *[pl.col(p).map_elements(p_text, return_dtype=pl.String, skip_nulls=False)
          for p in ("p_value", "adjusted_p")],
    ).rename(ANOMALY_HEADERS)


def compstat_display(table: pl.DataFrame, by: str, labels: Mapping[str, str]) -> pl.DataFrame:
    """The CompStat table with a display name column first."""
    return table.with_columns(
        pl.col(by).replace_strict(labels, default=pl.col(by), return_dtype=pl.String)
        .alias("name"),
    ).select("name", pl.exclude("name"))


def compstat_column_names() -> dict[str, str]:
    """Column headers of the CompStat table ('Last 7 days', 'per 100k', 'prior', 'change',
    '%'), in its order."""
    names: dict[str, str] = {}
    for window in COMPSTAT_WINDOWS:
        label = COMPSTAT_LABELS[window]
        prior = "same span last year" if window == "ytd" else "prior"
        names |= {window: label, f"{window}_per_100k": f"{label}: per 100k",
                  f"{window}_prior": f"{label}: {prior}",
                  f"{window}_prior_per_100k": f"{label}: {prior} per 100k",
                  f"{window}_change": f"{label}: change",
                  f"{window}_change_pct": f"{label}: change %"}
    return names | {"population": "Residents"}


# Short headers, so the table fits the page at 1440 px (issue 14); the long names are each
# column's help and the CSV's headers.
COMPSTAT_SHORT = {"7d": "7d", "28d": "28d", "ytd": "YTD"}


def compstat_short_names() -> dict[str, str]:
    """The CompStat table's headers on screen ('7d', '7d prior', '7d Δ', '7d Δ %', ...; a
    year to date's prior is 'YTD last yr'), in its order."""
    names: dict[str, str] = {}
    for window in COMPSTAT_WINDOWS:
        short = COMPSTAT_SHORT[window]
        prior = f"{short} last yr" if window == "ytd" else f"{short} prior"
        names |= {window: short, f"{window}_per_100k": f"{short} /100k",
                  f"{window}_prior": prior, f"{window}_prior_per_100k": f"{prior} /100k",
                  f"{window}_change": f"{short} Δ", f"{window}_change_pct": f"{short} Δ %"}
    return names | {"population": "Residents"}


def compstat_columns(by: str, rates: bool) -> list[str]:
    """The CompStat columns shown, name first: per window its count, prior, change and change
    %; or (``rates``) its rate per 100,000 residents, the prior's rate and the change % (the
    same for rates as for counts: one place's residents), with a region's residents last
    (a category's are the place's, said in the caption)."""
    suffixes = ("_per_100k", "_prior_per_100k", "_change_pct") if rates else (
        "", "_prior", "_change", "_change_pct")
    shown = ["name", *[f"{window}{suffix}" for window in COMPSTAT_WINDOWS
                       for suffix in suffixes]]
    return [*shown, "population"] if rates and by == "region_id" else shown


def rate_text(rate: float | None) -> str:
    """A rate per 100,000 as shown (one decimal); MISSING where there is none."""
    return MISSING if rate is None else f"{rate:,.1f}"


def total_rates_text(total_rates: Mapping[str, tuple[float | None, float | None]]) -> str:
    """'last 7 days 1.2 (0.9 before); ...; year to date 30.1 (28.4 the same span last year)'."""
    return "; ".join(
        f"{COMPSTAT_LABELS[window].lower()} {rate_text(now)} "
        f"({rate_text(before)} {'the same span last year' if window == 'ytd' else 'before'})"
        for window, (now, before) in total_rates.items())


def compstat_rates_text(basis: str, residents: int | None,
                        total_rates: Mapping[str, tuple[float | None, float | None]],
                        by: str) -> str:
    """What CompStat's rates are per, and the rates of its totals, in words."""
    whose = ("a region's are per resident of its counties in the place shown"
             if by == "region_id" else "a category's are per resident of the place shown")
    if residents is None:
        return (f"Rates {basis}; {whose}. {MISSING} : a county of the row has no estimate, "
                "so there is no rate.")
    return (f"Rates {basis}; {whose}. All rows together ({residents:,} residents): "
            f"{total_rates_text(total_rates)}. {MISSING} : a county of the row has no "
            "estimate.")


def rule_text(rule: AnomalyRule, granularity: Granularity) -> str:
    """The anomaly rule in words, with the configured parameters (for the page's explainer)."""
    unit = WINDOW_UNITS[granularity]
    return (
        f"A {granularity}'s **baseline** is the series' mean daily rate over the "
        f"**{rule.baseline_buckets} whole {unit}** just before it (the {granularity} itself "
        "left out), times the days it covers; a window with no incident counts as half an "
        "incident. A bucket is tested only when its whole window lies in the data.\n\n"
        f"The **test** is one-sided: the chance of at least the observed count under a "
        f"**{METHOD_NAMES[rule.method]}** distribution with the baseline as its mean"
        + (" and the window's own variance (Poisson where the window is not overdispersed)"
           if rule.method == "negative_binomial" else "")
        + f". The p-values of every bucket of every series in the view are adjusted with "
        f"**{CORRECTION_NAMES[rule.correction]}**.\n\n"
        f"An **anomaly** has an adjusted p below **{rule.alpha:g}**, at least "
        f"**{rule.min_count}** incidents and at least **{rule.min_ratio:g} ×** its baseline. "
        "Parameters come from `[anomalies]` in settings.toml."
    )


# Which shared filter a selected series narrows, per split.
SPLIT_FILTERS = {"category": "categories", "region": "regions", "center": "centers"}


def series_selection_changes(points: Sequence[Sequence[str]], split: str) -> dict[str, object]:
    """Filter changes for points selected on the series chart (their customdata): the period
    becomes the selected buckets' days, and the split's filter the selected series."""
    start = min(date.fromisoformat(point[1]) for point in points)
    end = max(date.fromisoformat(point[2]) for point in points)
    changes: dict[str, object] = {"period": "custom", "start": start, "end": end,
                                  SPLIT_FILTERS[split]: tuple(sorted({p[0] for p in points}))}
    if split == "region":
        changes["counties"] = ()  # regions and counties add up: the region alone
    return changes


def cell_selection_changes(points: Sequence[Sequence[str]]) -> dict[str, object]:
    """Filter changes for points selected on the small multiples: their categories and
    regions (any county filter is dropped, since regions and counties add up)."""
    return {"categories": tuple(sorted({point[0] for point in points})),
            "regions": tuple(sorted({point[1] for point in points})), "counties": ()}
