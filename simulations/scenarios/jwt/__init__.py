"""The jwt scenario: see model.py."""
