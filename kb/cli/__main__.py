"""`python -m kb.cli …`: the same command, with every subcommand, as the installed `kb`."""
from . import main

main(prog_name="kb")
