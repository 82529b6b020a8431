"""One module per command. Each: docstring (its help), add_arguments(parser), run(args) -> int."""
