"""`python -m secomp.cli ...` (as `secomp ...`)."""

from .main import main

main()
