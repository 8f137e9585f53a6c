"""Triage: where a failure originated, what state its handling is in."""
