"""`python -m supervisor` is `csup`."""

from supervisor.face.entry import main

main()
