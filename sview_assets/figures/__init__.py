"""Pictures for the Dagster UI and reports: Matplotlib plots and contact sheets of what a model saw."""
