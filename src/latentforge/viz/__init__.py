"""Figures: pure functions from arrays to matplotlib Figures, and saving helpers."""
