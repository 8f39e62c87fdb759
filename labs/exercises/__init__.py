"""Exercise checks: one module per exercise; each check_... function reports, never raises."""
