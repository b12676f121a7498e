"""Readers of the real input formats. Each validates what it reads and names the file, column and row of any problem."""
