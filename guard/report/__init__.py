"""Turning a verification into words and tables: for terminals, JSON, check runs and summaries."""
