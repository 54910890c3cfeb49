"""What goes into an image, decided before anything is built: ``load_plan`` reads the
project and its lock at the edge, then ``plan`` (pure) lays out layers, ENV, labels and
the entrypoint that both builders render."""
