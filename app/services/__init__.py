"""Domain rules, unit-tested without HTTP. Routes call these; these never see a request."""
