"""A briefing as a PDF (reportlab, pure Python from PyPI).

Every page carries the handling marking at its top and bottom (the TLP label in its colours on
black, its TLP 2.0 wording, the caveat line), "Page n of N", and the SYNTHETIC watermark for
demo data. A table of contents and PDF bookmarks list the sections. Tables wrap their text in
paragraphs sized to the page; charts are matplotlib PNGs. Feed text is escaped before it
reaches reportlab's paragraph markup. The file is reproducible: the same briefing (generation
time included) gives the same bytes (``invariant``: no random ids, a fixed creation date).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

from dashboard.briefing.charts import category_changes_png, map_png, series_png
from dashboard.briefing.compose import Briefing, BriefingTable
from dashboard.briefing.text import SYNTHETIC_NOTICE, marking_basis, method_notes

PAGE_WIDTH, PAGE_HEIGHT = letter
MARGIN = 0.6 * 72
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN
BANNER_HEIGHT = 16
# The TLP 2.0 colours (label on black).
TLP_COLOURS = {"TLP:CLEAR": "#ffffff", "TLP:GREEN": "#33ff00", "TLP:AMBER": "#ffc000",
               "TLP:AMBER+STRICT": "#ffc000", "TLP:RED": "#ff2b2b"}
FONT, BOLD, ITALIC = "BriefSans", "BriefSans-Bold", "BriefSans-Oblique"
HEADER_FILL = colors.HexColor("#1f4e79")
ZEBRA_FILL = colors.HexColor("#f2f5f8")
GRID = colors.HexColor("#c8ced6")
TEXT = colors.HexColor("#1b1b1b")
MUTED = colors.HexColor("#555555")
CELL_PADDING = 3
TABLE_FONT_SIZES = (9, 8.5, 8, 7.5, 7)  # points: the first at which a table fits is used
MAX_CHART_HEIGHT = 5.0 * 72


@cache
def register_fonts() -> None:
    """DejaVu Sans, which matplotlib ships: embedded, so every reader shows the same glyphs,
    and wide enough in Unicode for names and titles from any feed."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in ((FONT, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"),
                       (ITALIC, "DejaVuSans-Oblique.ttf"),
                       (f"{FONT}-BoldOblique", "DejaVuSans-BoldOblique.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC,
                                  boldItalic=f"{FONT}-BoldOblique")


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5, textColor=TEXT,
                          spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=19, leading=23,
                                spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=12, leading=15,
                                   textColor=MUTED, spaceAfter=10),
        "h1": ParagraphStyle("h1", parent=body, fontName=BOLD, fontSize=14, leading=18,
                             spaceBefore=10, spaceAfter=6, textColor=HEADER_FILL),
        "h2": ParagraphStyle("h2", parent=body, fontName=BOLD, fontSize=10.5, leading=14,
                             spaceBefore=8, spaceAfter=4),
        "body": body,
        "bullet": ParagraphStyle("bullet", parent=body, leftIndent=12, bulletIndent=2,
                                 spaceAfter=5),
        "note": ParagraphStyle("note", parent=body, fontName=ITALIC, fontSize=8, leading=10,
                               textColor=MUTED, spaceBefore=2, spaceAfter=8),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5, spaceAfter=0),
        "cell_right": ParagraphStyle("cell_right", parent=body, fontSize=8.5, leading=10.5,
                                     spaceAfter=0, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=body, fontName=BOLD, fontSize=8.5, leading=10.5,
                               spaceAfter=0, textColor=colors.white),
        "head_right": ParagraphStyle("head_right", parent=body, fontName=BOLD, fontSize=8.5,
                                     leading=10.5, spaceAfter=0, textColor=colors.white,
                                     alignment=TA_RIGHT),
        "marking": ParagraphStyle("marking", parent=body, fontSize=9, leading=12,
                                  textColor=colors.white),
        "toc1": ParagraphStyle("toc1", parent=body, fontSize=9.5, leading=12, leftIndent=10,
                               spaceAfter=0),
    }


def _text(value: str) -> str:
    """Feed or config text made safe for reportlab's paragraph markup."""
    return escape(value, quote=False)


class _Heading(Paragraph):
    """A section heading: a table-of-contents entry and a PDF bookmark."""

    def __init__(self, text: str, style: ParagraphStyle, key: str) -> None:
        super().__init__(_text(text), style)
        self.bookmark_key = key
        self.plain_text = text


class _BriefingDoc(BaseDocTemplate):
    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, _Heading):
            self.canv.bookmarkPage(flowable.bookmark_key)
            self.canv.addOutlineEntry(flowable.plain_text, flowable.bookmark_key, level=0)
            self.notify("TOCEntry", (0, _text(flowable.plain_text), self.page,
                                     flowable.bookmark_key))


def _fit(text: str, font: str, size: float, width: float, smallest: float = 5.5) -> float:
    """The largest font size up to ``size`` at which ``text`` fits ``width``."""
    while size > smallest and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 0.25
    return size


def _draw_banner(canvas: Canvas, briefing: Briefing, y: float) -> None:
    """The marking bar: the TLP label in its colour on black, then its wording."""
    canvas.setFillColor(colors.black)
    canvas.rect(MARGIN, y, FRAME_WIDTH, BANNER_HEIGHT, stroke=0, fill=1)
    label = briefing.marking
    canvas.setFont(BOLD, 9)
    canvas.setFillColor(colors.HexColor(TLP_COLOURS[label]))
    canvas.drawString(MARGIN + 6, y + 4.5, label)
    offset = MARGIN + 12 + pdfmetrics.stringWidth(label, BOLD, 9)
    wording = briefing.marking_wording
    size = _fit(wording, FONT, 7.5, MARGIN + FRAME_WIDTH - 6 - offset)
    canvas.setFont(FONT, size)
    canvas.setFillColor(colors.white)
    canvas.drawString(offset, y + 5, wording)


def _draw_caveat(canvas: Canvas, briefing: Briefing, top: float) -> None:
    canvas.setFont(ITALIC, 6.5)
    canvas.setFillColor(MUTED)
    for number, line in enumerate(simpleSplit(briefing.caveat, ITALIC, 6.5, FRAME_WIDTH)[:2]):
        canvas.drawString(MARGIN, top - 7.5 * (number + 1), line)


def _page_decorations(briefing: Briefing) -> Callable[[Canvas, Any], None]:
    def decorate(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        if briefing.synthetic:
            canvas.setFillColor(colors.HexColor("#9a9a9a"))
            canvas.setFillAlpha(0.16)
            canvas.setFont(BOLD, 64)
            canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
            canvas.rotate(50)
            canvas.drawCentredString(0, -20, "SYNTHETIC DATA")
            canvas.setFillAlpha(1)
            canvas.rotate(-50)
            canvas.translate(-PAGE_WIDTH / 2, -PAGE_HEIGHT / 2)
        top = PAGE_HEIGHT - MARGIN + 4
        _draw_banner(canvas, briefing, top)
        _draw_caveat(canvas, briefing, top - 1)
        bottom = MARGIN - 24
        _draw_caveat(canvas, briefing, bottom + BANNER_HEIGHT + 17)
        _draw_banner(canvas, briefing, bottom)
        canvas.restoreState()
    return decorate


def _numbered_canvas(briefing: Briefing) -> type[Canvas]:
    """A canvas that holds its pages back until the end, to print "Page n of N" on each."""
    footer = f"{briefing.title} · {briefing.period.label()}"

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(FONT, 7)
                self.setFillColor(MUTED)
                y = MARGIN - 34
                self.drawString(MARGIN, y, footer[:110])
                self.drawRightString(MARGIN + FRAME_WIDTH, y, f"Page {number} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def column_widths(table: BriefingTable, size: float, width: float = FRAME_WIDTH
                  ) -> list[float] | None:
    """Widths (points) in which no word of any cell or header is cut and the columns fill
    ``width``: each column gets its longest word, then the room left goes to the columns whose
    text would wrap, in proportion to what they lack. None when the words alone do not fit."""
    minimum, wanted = [], []
    for index, header in enumerate(table.columns):
        cells = [row[index] for row in table.rows]
        # A number ("+12.5 %") is never broken; text breaks between words.
        pieces = cells if table.numeric[index] else [w for cell in cells for w in cell.split()]
        words = [pdfmetrics.stringWidth(piece, FONT, size) for piece in pieces]
        words += [pdfmetrics.stringWidth(word, BOLD, size) for word in header.split()]
        whole = [pdfmetrics.stringWidth(cell, FONT, size) for cell in cells]
        whole.append(pdfmetrics.stringWidth(header, BOLD, size))
        # A freak token (a long URL in a title) may be cut rather than widen its column.
        minimum.append(min(max(words, default=0.0), width * 0.35) + 2 * CELL_PADDING + 1)
        wanted.append(max(max(whole), minimum[-1] - 2 * CELL_PADDING - 1) + 2 * CELL_PADDING + 1)
    if sum(minimum) > width:
        return None
    if sum(wanted) <= width:
        spare = width - sum(wanted)
        return [want + spare * want / sum(wanted) for want in wanted]
    lacking = [want - low for want, low in zip(wanted, minimum, strict=True)]
    spare = width - sum(minimum)
    return [low + spare * lack / sum(lacking) for low, lack in zip(minimum, lacking, strict=True)]


def _table(table: BriefingTable, styles: dict[str, ParagraphStyle],
           titled: bool = True) -> list[Flowable]:
    title = [Paragraph(_text(table.title), styles["h2"])] if titled else []
    note = [Paragraph(_text(table.note), styles["note"])] if table.note else []
    if not table.rows:
        return [KeepTogether([*title, Paragraph(_text(table.empty), styles["body"]), *note])]
    # The largest readable size at which every word fits; else the table's own proportions.
    for size in TABLE_FONT_SIZES:
        widths = column_widths(table, size)
        if widths is not None:
            break
    else:
        size = TABLE_FONT_SIZES[-1]
        widths = [FRAME_WIDTH * width / sum(table.widths) for width in table.widths]
    cell = {name: ParagraphStyle(f"{name}_{size}", parent=styles[name], fontSize=size,
                                 leading=size * 1.22)
            for name in ("cell", "cell_right", "head", "head_right")}
    header = [Paragraph(_text(name), cell["head_right" if numeric else "head"])
              for name, numeric in zip(table.columns, table.numeric, strict=True)]
    body = [[Paragraph(_text(value), cell["cell_right" if numeric else "cell"])
             for value, numeric in zip(row, table.numeric, strict=True)] for row in table.rows]
    if table.total:
        body[-1] = [Paragraph(f"<b>{_text(value)}</b>", cell["cell_right" if numeric else "cell"])
                    for value, numeric in zip(table.rows[-1], table.numeric, strict=True)]
    grid = Table([header, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
        ("BOX", (0, 0), (-1, -1), 0.6, GRID),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    commands += [("BACKGROUND", (0, row), (-1, row), ZEBRA_FILL)
                 for row in range(2, len(body) + 1, 2)]
    if table.total:
        commands.append(("LINEABOVE", (0, -1), (-1, -1), 1.2, TEXT))
    grid.setStyle(TableStyle(commands))
    # Title and the first rows stay together; a long table then flows over pages.
    return [CondPageBreak(90), *title, grid, *note]


def _image(png: bytes, max_height: float = MAX_CHART_HEIGHT) -> Image:
    width, height = ImageReader(io.BytesIO(png)).getSize()
    scale = min(FRAME_WIDTH / width, max_height / height)
    return Image(io.BytesIO(png), width=width * scale, height=height * scale)


def _cover(briefing: Briefing, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph(_text(briefing.title), styles["title"]),
        Paragraph(_text(briefing.period_text), styles["subtitle"]),
    ]
    facts = [*briefing.filter_lines, ("Audience", briefing.audience_label),
             ("Data version", str(briefing.data_version)),
             ("Generated", briefing.generated_text)]
    rows = [[Paragraph(_text(label), styles["cell"]), Paragraph(_text(value), styles["cell"])]
            for label, value in facts]
    rows.append([Paragraph("Data as of", styles["cell"]), Paragraph("<br/>".join(
        _text(f"{name}: {when}") for name, when in briefing.data_as_of), styles["cell"])])
    cover = Table(rows, colWidths=[FRAME_WIDTH * 0.2, FRAME_WIDTH * 0.8], hAlign="LEFT")
    cover.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (0, -1), ZEBRA_FILL),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]))
    handling = Table([[Paragraph(
        f'<font name="{BOLD}" color="{TLP_COLOURS[briefing.marking]}">'
        f"{_text(briefing.marking)}</font> {_text(briefing.marking_wording)}<br/>"
        f"{_text(briefing.caveat)}", styles["marking"])]], colWidths=[FRAME_WIDTH])
    handling.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.black),
                                  ("LEFTPADDING", (0, 0), (-1, -1), 8),
                                  ("TOPPADDING", (0, 0), (-1, -1), 6),
                                  ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    story += [cover, Spacer(1, 8), handling, Spacer(1, 4)]
    if briefing.synthetic:
        story.append(Paragraph(f"<b>{_text(SYNTHETIC_NOTICE)}</b>", styles["body"]))
    return story


def _contents(styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    contents = TableOfContents(dotsMinLevel=0)
    contents.levelStyles = [styles["toc1"]]
    return [CondPageBreak(160), Paragraph("Contents", styles["h2"]), contents]


def render_pdf(briefing: Briefing) -> bytes:
    """The briefing as PDF bytes."""
    register_fonts()
    styles = _styles()
    charts = {"map": map_png(briefing), "series": series_png(briefing),
              "categories": category_changes_png(briefing)}
    story = _cover(briefing, styles)
    for section in briefing.sections:
        if section.key == "headline":  # the key judgments open the briefing, then contents
            story += _contents(styles)
        opening: list[Flowable] = [_Heading(section.heading, styles["h1"], section.key)]
        if section.intro:
            opening.append(Paragraph(_text(section.intro), styles["body"]))
        charts_left = list(section.charts)
        if charts_left:  # a heading never ends a page alone: it keeps its first chart
            opening.append(_image(charts[charts_left.pop(0)]))
        story += [CondPageBreak(150), KeepTogether(opening)]
        story += [_image(charts[chart]) for chart in charts_left]
        if section.key == "judgments":
            story += [Paragraph(_text(sentence), styles["bullet"], bulletText="•")
                      for sentence in briefing.key_judgments]
        if section.key == "about":
            story += [Paragraph(_text(marking_basis(briefing)), styles["body"]),
                      *[Paragraph(_text(note), styles["body"]) for note in
                        method_notes(briefing)]]
        for name in section.tables:
            table = briefing.tables[name]
            # A section's only table needs no title of its own when it repeats the heading.
            story += _table(table, styles, titled=table.title != section.heading)
        if section.key == "about":
            story.append(Paragraph(_text(
                f"Content hash (SHA-256 of what this briefing says, not of when or by whom it "
                f"was produced): {briefing.content_hash}"), styles["note"]))
    buffer = io.BytesIO()
    document = _BriefingDoc(
        buffer, pagesize=letter, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN + 22, bottomMargin=MARGIN + 22, title=briefing.title,
        author=briefing.generated_by_name, subject=f"{briefing.marking} · {briefing.period_text}",
        creator="Statewide Threat Picture", invariant=1)
    frame = Frame(MARGIN, MARGIN + 22, FRAME_WIDTH, PAGE_HEIGHT - 2 * MARGIN - 44,
                  id="content", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    decorate = _page_decorations(briefing)
    document.addPageTemplates([PageTemplate("page", [frame], onPage=decorate)])
    document.multiBuild(story, canvasmaker=_numbered_canvas(briefing))
    return buffer.getvalue()
