"""The deploy scenario: see model.py."""
