"""Grading: prompt (from the ledger), grader (Anthropic + offline), verify, calibration, frontier."""
