"""Interop with other tools, at the edge: they call the pipeline, never copy it."""
