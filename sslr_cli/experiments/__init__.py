"""One module per paper experiment. Each returns plain result objects (dataclasses) that the CLI
renders as tables, figures or JSON, and that tests assert on."""
