"""``python -m bench.quality``: the quality benchmark alone."""

from . import main

main()
