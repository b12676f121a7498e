"""sview: street-level images to LSOA inequality deciles, as Dagster assets."""
