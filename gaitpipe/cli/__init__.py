"""The Typer command-line interface: a thin layer over the library; it holds no logic."""
