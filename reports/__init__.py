"""Reports stage: pipeline summaries now; scheduled HTML/PDF reports and delivery later."""
