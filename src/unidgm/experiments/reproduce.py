"""`unidgm reproduce`: placeholder wiring, replaced by the reproduction runner."""


def add_parser(sub):
    p = sub.add_parser("reproduce", help="reproduce the paper's tables (table2, table3, all)")
    p.add_argument("table", choices=["table2", "table3", "all"])
