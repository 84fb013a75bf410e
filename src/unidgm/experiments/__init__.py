"""Paper reproduction: recipes per table cell, the reproduce command, the demo, generated tables."""


def add_reproduce_parser(sub):
    """`unidgm reproduce` and `unidgm sweep` (called by the CLI's build_parser)."""
    from . import sweep
    from .reproduce import command
    command.add_parser(sub)
    sweep.add_parser(sub)
