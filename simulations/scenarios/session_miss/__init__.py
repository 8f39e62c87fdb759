"""The session_miss scenario: see model.py."""
