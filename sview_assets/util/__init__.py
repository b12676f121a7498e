"""Small helpers with no knowledge of sview's data: atomic file writes, free ports, decile cuts, and the reaper that stops orphaned servers."""
