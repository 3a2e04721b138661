"""``python -m cli``: the ``whistle`` command."""
from cli.main import main

main()
