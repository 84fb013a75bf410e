"""Table 1 as Markdown, generated from the model definitions."""


def test_table1_markdown_has_the_same_cell_count_on_every_row():
    """Every '|' inside a cell (p_θ(x|y), q_η(z|x,y)) is escaped, row labels included."""
    from unidgm.experiments.tables import table1_markdown
    lines = table1_markdown().splitlines()
    counts = {line.replace("\\|", "").count("|") for line in lines}
    assert len(counts) == 1, counts
    assert any("\\|" in line.split(" | ")[1] for line in lines[2:])  # cells with conditionals are escaped
