"""Geography for GIS: the GeoPackage of LSOA predictions (the area boundaries are read by sources.boundaries)."""
