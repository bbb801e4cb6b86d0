"""Training: the loop (``trainer``), the optimizer and schedules (``optim``), checkpoints that
resume bit for bit (``checkpoint``), and the named random streams of a run (``seeds``).

This layer sits on top of the models and below ``minifm.tasks``: it knows how to fit any model
that follows the model contract, but nothing about a particular family or a plot.
"""
