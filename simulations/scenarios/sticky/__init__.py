"""The sticky scenario: see model.py."""
