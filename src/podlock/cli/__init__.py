"""The command line: one module per command; ``main`` wires them and renders errors."""
