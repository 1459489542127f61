"""Thin Streamlit pages: read state, call dashboard/, render."""
