"""AWS X-Ray as a span source: id mapping, segment conversion, the lazy span source, the
search fallback's filter translation and the annotation span processor (docs/xray.md)."""
