"""``python -m attnlab`` = the ``attnlab`` command."""

from attnlab.cli import main

main()
