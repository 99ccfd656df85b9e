"""Evaluation (placeholder docstring, completed below)."""
