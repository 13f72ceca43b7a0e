"""Evaluation: pure metric functions and evaluation protocols."""
