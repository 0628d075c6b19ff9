"""``python -m benchmarks``: the same as ``make bench`` once its dependencies are installed."""

from benchmarks.run import main

main()
