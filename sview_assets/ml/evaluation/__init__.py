"""Evaluating models: metrics with intervals, LSOA aggregation, and transfer between cities."""
