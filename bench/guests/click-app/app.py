"""A small CLI: a click command whose option titles a rich table of three
rows, printed to stdout."""

import click
from rich.console import Console
from rich.table import Table

RUNTIMES = [
    ("wharf", "WebAssembly", "wasmtime"),
    ("docker", "Linux container", "runc"),
    ("native", "host process", "CPython"),
]


@click.command()
@click.option("--title", default="Runtimes", show_default=True, help="The table's title.")
def main(title):
    """Prints a table of three runtimes."""
    table = Table(title=title)
    table.add_column("name")
    table.add_column("sandbox")
    table.add_column("engine")
    for row in RUNTIMES:
        table.add_row(*row)
    # A fixed width, and no colours: the same output wherever it runs.
    Console(width=60, no_color=True).print(table)


if __name__ == "__main__":
    main()
