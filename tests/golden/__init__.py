"""Golden outputs of every format, and the pinned decisions they are rendered from."""
