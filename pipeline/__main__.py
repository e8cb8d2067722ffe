"""`python -m pipeline` runs the same CLI as the `ftboot` console script."""

from pipeline.cli import main

main()
