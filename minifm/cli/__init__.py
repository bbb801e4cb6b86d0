"""The ``minifm`` command line: argparse and printing only, one module per family.

    minifm train gpt --corpus grammar --steps 500 --out out/gpt
    minifm train gpt --resume out/gpt --steps 1000
    minifm sample out/gpt                      (a command of the GPT family)
    minifm tour                                (the guided tour: minifm.tour)

``main`` (in ``minifm.cli.main``) builds the parser from ``FAMILIES`` there. A family module
(``minifm/cli/<family>.py``) defines

    add_train_arguments(parser)   the family's own flags of ``train FAMILY``; the common ones
                                  (--steps, --batch-size, --lr, --out, --seed, --quiet,
                                  --metrics-out, --resume, ...) come from ``common``
    train(args) -> int            run ``minifm train FAMILY``, using ``common.start_or_resume``
                                  and ``common.finish_training``
    TRAIN_DEFAULTS                the family's TrainConfig (its defaults show in --help)
    COMMANDS                      {name: (add_arguments(parser), run(args) -> int)}: top-level
                                  commands such as ``sample`` or ``zeroshot``; the help line is
                                  the first line of ``run``'s docstring

and its module docstring's first line is the help line of ``train FAMILY``. The work itself
(training data, evaluation, generation) is done by ``minifm.tasks``; the pictures by
``minifm.plots``. Numeric flags are typed with ``minifm.cli.flags`` (range checks in the flag's
terms while parsing), and output paths are checked before any work (``minifm.cli.outputs``). Bad
input is reported by raising ``FileNotFoundError`` or ``ValueError``:
``main`` turns those into one ``minifm: error: ...`` line and exit code 2. Nothing but
``minifm.__main__`` imports this package.
"""
