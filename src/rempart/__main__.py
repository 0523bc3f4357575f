"""Allow `python -m rempart`."""

from rempart.cli.main import main

main()
