"""Canonical ingest: normalize -> validate -> quarantine -> geocode -> write -> link duplicates."""
