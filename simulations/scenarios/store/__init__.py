"""The store scenario of lesson 02 (and lesson 12, which extends it).

``model.py`` is the simulation, ``plots.py`` its figures, ``widget.py`` its explorer, ``cli.py`` its
subcommand. What the command line lists without loading the model lives here."""

HELP = "N instances calling one shared store: what each request pays, and a slow or absent store"
