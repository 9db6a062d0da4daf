"""Collection sources: Internet Archive scrape and download, local folders. Plain functions."""
