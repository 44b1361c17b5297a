"""Differentiate by value: summaries, probabilistic models, CLV, validation."""
