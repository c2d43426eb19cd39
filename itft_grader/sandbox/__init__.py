"""Where a student's kernel runs: bubblewrap (``bwrap``) and the process tree's limits (``limits``)."""
