"""The provider portal: server-rendered pages (Jinja2, autoescaped), vendored CSS and JS,
French by default with English available. See docs/portal.md."""
