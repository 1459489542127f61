"""Page models: for every page, one Streamlit-free function that takes what a visibility class
receives (:class:`dashboard.security.audience.ViewData`) and the selection, and returns
everything the page shows: figures' data, tables, texts, downloads. Pages read widgets, call
their model, cache it and draw; the bench, the briefing and `analyze` call the same functions.
"""
