"""Recipes: what the command line does for each model family.

``minifm.cli`` is only a frame; each family brings a recipe module, listed in ``RECIPES``
(family name -> module path), which defines

    add_train_arguments(parser)   add the family's own flags (e.g. --data) to ``train FAMILY``;
                                  the common flags (--steps, --batch-size, --lr, --out, --seed,
                                  --quiet, --metrics-out, --resume, --eval-interval, ...) are
                                  already there: see ``minifm.cli.add_common_train_arguments``
    train(args) -> int            run ``minifm train FAMILY``; build the TrainConfig with
                                  ``minifm.cli.train_config_from_args(args, base)``; return the
                                  exit code
    COMMANDS (optional)           {name: (add_arguments(parser), run(args) -> int)}: top-level
                                  subcommands such as ``sample`` or ``zeroshot``; the help line
                                  is the first line of ``run``'s docstring

The help line of ``train FAMILY`` is the first line of the recipe module's docstring. A recipe
reports bad input by raising ``FileNotFoundError`` or ``ValueError``; the CLI turns those into
one ``minifm: error: ...`` line and exit code 2.
"""

RECIPES: dict[str, str] = {"gpt": "minifm.recipes.gpt", "clip": "minifm.recipes.clip",
                           "bert": "minifm.recipes.bert", "dalle": "minifm.recipes.dalle"}
