"""samplemill workers: the Celery app, thin stage tasks, and the plain media code they call."""
