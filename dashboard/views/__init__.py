"""Figure and table builders: pure functions returning plotly figures, folium maps, frames."""
