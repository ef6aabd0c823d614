"""`python -m supervisor` is `csup`."""

from .cli import main

main()
