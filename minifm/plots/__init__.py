"""Every picture minifm draws, one module per subject; each function returns a matplotlib
``Figure`` (save it with ``fig.savefig(path)``) or, named ``save_*``, writes PNG files.

Nothing below this layer imports matplotlib (the import-linter contracts in ``pyproject.toml``
check it), so the models, the training loop and the tasks run without a plotting library
in the way, and every figure is found here.
"""
