"""NUT's configuration grammar: one lexer and the parsers for every NUT file."""
