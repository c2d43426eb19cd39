"""Data files shipped with the package (the grading-mode default of Homework 2's transfer results)."""
