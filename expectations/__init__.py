"""Expectations stage: Great Expectations 1.x suites as code and the checkpoint runner."""
