"""`python -m supervisor` is `csup`."""

from .entry import main

main()
