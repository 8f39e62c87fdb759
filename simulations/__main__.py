"""``python -m simulations ...``: see ``simulations.cli`` for the subcommands."""

import sys

from simulations.cli import main

sys.exit(main())
