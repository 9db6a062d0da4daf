"""Fault injection shared by the chaos suite and the simulated cluster."""
