"""Briefing snapshots: the analytics the pages show, frozen for one filter and period, marked
for handling, and written as a PDF or a self-contained HTML file.

``compose`` builds a :class:`~dashboard.briefing.compose.Briefing` from the frames the marking
policy lets the requesting user see; ``charts`` draws its static pictures (matplotlib, no
browser); ``render_pdf`` and ``render_html`` write the two formats; ``archive`` keeps every
briefing with its manifest and logs its dissemination (28 CFR 23.20(f)).
"""
