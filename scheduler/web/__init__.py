"""`samplemill web`: a local web app over the catalog and broker to watch jobs, browse the
catalog and hear the sample map (Starlette, Jinja2 pages, plain JavaScript, no build step)."""
