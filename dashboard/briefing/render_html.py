"""A briefing as one self-contained HTML file: opens offline, asks nothing of the network.

plotly.js is inlined once in the head and every chart is drawn with the pages' own figure
builders (``views.trends.series_figure``, ``views.overview.change_bars_figure``); the static map
is a PNG data URI; the CSS is inline. The marking banner sits at the top and bottom (fixed to
every printed page), and demo data carries a SYNTHETIC watermark. Every piece of text is
HTML-escaped; plotly's JSON escapes ``<`` itself.
"""

from __future__ import annotations

import base64
from html import escape

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboard.briefing.charts import category_changes_figure, map_png
from dashboard.briefing.compose import Briefing, BriefingTable
from dashboard.briefing.text import SYNTHETIC_NOTICE, marking_basis, method_notes
from dashboard.views.trends import series_figure

TLP_COLOURS = {"TLP:CLEAR": "#ffffff", "TLP:GREEN": "#33ff00", "TLP:AMBER": "#ffc000",
               "TLP:AMBER+STRICT": "#ffc000", "TLP:RED": "#ff2b2b"}
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
CSS = """
:root { --ink: #1b1b1b; --muted: #555; --head: #1f4e79; --zebra: #f2f5f8; --grid: #c8ced6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica,
       Arial, sans-serif; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 12px 24px 40px; }
.banner { background: #000; color: #fff; padding: 6px 24px; font-size: 13px; z-index: 10; }
.banner .label { font-weight: 700; margin-right: 10px; }
.banner .caveat { display: block; color: #ccc; font-size: 12px; font-style: italic; }
.banner.top { position: sticky; top: 0; }
.watermark { position: fixed; top: 42%; left: 0; right: 0; text-align: center;
             transform: rotate(-28deg); font-size: 110px; font-weight: 700;
             color: rgba(0, 0, 0, 0.06); pointer-events: none; z-index: 5; }
h1 { font-size: 30px; margin: 18px 0 2px; }
.subtitle { color: var(--muted); font-size: 18px; margin: 0 0 14px; }
h2 { color: var(--head); font-size: 22px; margin: 30px 0 8px;
     border-bottom: 2px solid var(--head); padding-bottom: 2px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; font-size: 13.5px; }
th { background: var(--head); color: #fff; text-align: left; padding: 4px 6px;
     vertical-align: bottom; }
td { padding: 3px 6px; border-bottom: 1px solid var(--grid); vertical-align: top; }
tbody tr:nth-child(even) td { background: var(--zebra); }
.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
table.cover th { background: var(--zebra); color: var(--ink); font-weight: 400; width: 20%;
                 vertical-align: top; border-bottom: 1px solid var(--grid); }
.handling { background: #000; color: #fff; padding: 10px 14px; margin: 14px 0; }
.handling .label { font-weight: 700; }
.note { color: var(--muted); font-style: italic; font-size: 12.5px; margin: 2px 0 12px; }
.synthetic { font-weight: 700; }
ul.judgments li { margin-bottom: 6px; }
nav ol { columns: 2; }
img.map { width: 100%; height: auto; }
.chart { margin: 6px 0 14px; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: var(--muted);
        word-break: break-all; }
@media print {
  .banner.top { position: fixed; top: 0; left: 0; right: 0; }
  .banner.bottom { position: fixed; bottom: 0; left: 0; right: 0; }
  main { padding-top: 70px; padding-bottom: 70px; }
  h2 { break-after: avoid; }
  table, .chart, img { break-inside: avoid; }
}
"""


def _banner(briefing: Briefing, where: str) -> str:
    return (f'<div class="banner {where}" role="note" aria-label="Handling marking">'
            f'<span class="label" style="color:{TLP_COLOURS[briefing.marking]}">'
            f"{escape(briefing.marking)}</span>{escape(briefing.marking_wording)}"
            f'<span class="caveat">{escape(briefing.caveat)}</span></div>')


def _table(table: BriefingTable, titled: bool = True) -> str:
    title = f"<h3>{escape(table.title)}</h3>" if titled else ""
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    if not table.rows:
        return f"{title}<p>{escape(table.empty)}</p>{note}"

    def cells(row: tuple[str, ...], tag: str) -> str:
        return "".join(f'<{tag}{" class=num" if numeric else ""}>{escape(value)}</{tag}>'
                       for value, numeric in zip(row, table.numeric, strict=True))

    body = "".join(
        f'<tr{" class=total" if table.total and number == len(table.rows) - 1 else ""}>'
        f"{cells(row, 'td')}</tr>" for number, row in enumerate(table.rows))
    return (f"{title}<table><thead><tr>{cells(table.columns, 'th')}</tr></thead>"
            f"<tbody>{body}</tbody></table>{note}")


def _figure(figure: go.Figure, name: str) -> str:
    # A fixed div id keeps the file the same from run to run.
    html = figure.to_html(include_plotlyjs=False, full_html=False, config=PLOTLY_CONFIG,
                          div_id=f"chart-{name}")
    return f'<div class="chart">{html}</div>'


def _charts(briefing: Briefing) -> dict[str, str]:
    """The section charts as HTML: the same plotly builders the pages use."""
    view = briefing.series
    series = series_figure(view.series, briefing.category_labels, view.granularity, view.rule,
                           f"Incidents by category per {view.granularity}, with each series' "
                           "baseline (dashed)")
    series.update_layout(dragmode="zoom")
    categories = category_changes_figure(briefing)
    png = base64.b64encode(map_png(briefing)).decode("ascii")
    return {
        "map": f'<img class="map" alt="Map of incidents per county and hot spots, regions '
               f'outlined" src="data:image/png;base64,{png}">',
        "series": _figure(series, "series"),
        "categories": _figure(categories, "categories"),
    }


def render_html(briefing: Briefing) -> str:
    """The briefing as a standalone HTML document."""
    charts = _charts(briefing)
    cover = "".join(f"<tr><th scope=row>{escape(label)}</th><td>{escape(value)}</td></tr>"
                    for label, value in [*briefing.filter_lines,
                                         ("Audience", briefing.audience_label),
                                         ("Data version", str(briefing.data_version)),
                                         ("Generated", briefing.generated_text)])
    as_of = "<br>".join(escape(f"{name}: {when}") for name, when in briefing.data_as_of)
    cover += f"<tr><th scope=row>Data as of</th><td>{as_of}</td></tr>"
    contents = "".join(f'<li><a href="#{section.key}">{escape(section.heading)}</a></li>'
                       for section in briefing.sections)
    parts = [
        f"<h1>{escape(briefing.title)}</h1>",
        f'<p class="subtitle">{escape(briefing.period_text)}</p>',
        f'<table class="cover">{cover}</table>',
        f'<div class="handling"><span class="label" style="color:'
        f'{TLP_COLOURS[briefing.marking]}">{escape(briefing.marking)}</span> '
        f"{escape(briefing.marking_wording)}<br>{escape(briefing.caveat)}</div>",
    ]
    if briefing.synthetic:
        parts.append(f'<p class="synthetic">{escape(SYNTHETIC_NOTICE)}</p>')
    for section in briefing.sections:
        if section.key == "headline":  # the key judgments open the briefing, then contents
            parts.append(f"<nav><h3>Contents</h3><ol>{contents}</ol></nav>")
        parts.append(f'<section id="{section.key}"><h2>{escape(section.heading)}</h2>')
        if section.intro:
            parts.append(f"<p>{escape(section.intro)}</p>")
        if section.key == "judgments":
            items = "".join(f"<li>{escape(sentence)}</li>"
                            for sentence in briefing.key_judgments)
            parts.append(f'<ul class="judgments">{items}</ul>')
        parts += [charts[chart] for chart in section.charts]
        if section.key == "about":
            parts += [f"<p>{escape(text)}</p>" for text in
                      [marking_basis(briefing), *method_notes(briefing)]]
        for name in section.tables:
            table = briefing.tables[name]
            parts.append(_table(table, titled=table.title != section.heading))
        if section.key == "about":
            parts.append(f'<p class="note">Content hash (SHA-256 of what this briefing says, '
                         f'not of when or by whom it was produced):</p>'
                         f'<p class="hash">{briefing.content_hash}</p>')
        parts.append("</section>")
    watermark = ('<div class="watermark" aria-hidden="true">SYNTHETIC DATA</div>'
                 if briefing.synthetic else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(briefing.marking)} · {escape(briefing.title)} · "
        f"{escape(briefing.period.label())}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"{_banner(briefing, 'top')}{watermark}<main>{''.join(parts)}</main>"
        f"{_banner(briefing, 'bottom')}</body></html>\n"
    )
