"""The `rekindle` command line: thin Typer commands that parse options and call one engine function."""
