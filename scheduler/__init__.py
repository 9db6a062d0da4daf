"""The scheduler: job submission, the reconciliation loop, monitoring and the samplemill command."""
