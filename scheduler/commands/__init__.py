"""Click commands of the samplemill CLI, one module per area."""
