"""Retail lakehouse ETL: landing files -> Delta bronze/silver/gold -> MySQL and Excel."""

__version__ = "0.1.0"
