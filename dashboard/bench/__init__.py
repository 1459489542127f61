"""`threat-picture bench`: the product's speed and scale measured against issue 7's targets.

``run.run_bench`` generates demo data of a given size, ingests it, and measures ingest, cold
start, every page's analytics and full AppTest run, the map's payload, Gi*, coverage, a PDF
briefing and a pandas reference; ``report`` holds the targets and renders the report.
"""
