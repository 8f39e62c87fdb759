"""The crashes scenario: see model.py."""
