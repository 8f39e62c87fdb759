"""The events scenario of lesson 09: long-lived connections (SSE, WebSocket) behind N instances.

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "events to subscribers on N instances: 1/N delivered without a broker; a reconnect storm"
