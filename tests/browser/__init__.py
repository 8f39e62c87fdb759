"""Real-browser tests: every lesson run in JupyterLab through Chromium, as a learner runs it."""
