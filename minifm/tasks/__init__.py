"""Tasks: what the notebooks, the lessons, the tour and the command line call to get work done
with a model family, as plain functions and classes with typed arguments (no argparse, no
plotting): the built-in data and model sizes, training from a config, evaluation by exact
judges, generation, transfer measurements. One module per family (``minifm.tasks.gpt`` ...).
"""
