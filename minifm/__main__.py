"""``python -m minifm ...`` runs the command-line interface."""

from minifm.cli.main import main

raise SystemExit(main())
