"""Regression tests for defects found in code review; each failed before its fix."""
