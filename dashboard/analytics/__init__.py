"""Pure Polars functions behind every number the pages and exports show."""
