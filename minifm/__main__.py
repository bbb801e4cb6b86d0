"""``python -m minifm ...`` runs the command-line interface."""

from minifm.cli import main

raise SystemExit(main())
