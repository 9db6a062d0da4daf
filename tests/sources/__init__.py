"""Tests of the sources stage code (scrape, downloads) against loopback servers."""
