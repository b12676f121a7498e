"""The command-line programs: the pipeline and its run plan and launchers, the results report, the pre-flight check and Street View acquisition."""
