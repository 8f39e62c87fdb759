"""The balance scenario: see model.py."""
