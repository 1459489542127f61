"""Synthetic demo data: feeds of several fusion centers of a real state, with config and the
ground truth of the patterns planted in them (see :mod:`dashboard.demo.generator`)."""

from dashboard.demo.generator import ProgressCallback, generate

__all__ = ["ProgressCallback", "generate"]
