"""One module per CLI command; ``sslr_cli.cli`` assembles them. No model or data logic here."""
