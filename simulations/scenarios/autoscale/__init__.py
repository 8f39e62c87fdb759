"""The autoscale scenario: see model.py."""
