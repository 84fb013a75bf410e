"""Paper reproduction: recipes per table cell, the reproduce command, the demo, generated tables."""


def add_reproduce_parser(sub):
    from .reproduce import add_parser
    add_parser(sub)
