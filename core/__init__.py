"""The core every layer may import: errors, settings, queue names, the stage registry.

It imports nothing else of ours, so db/, worker/ and scheduler/ can all depend on it.
"""
