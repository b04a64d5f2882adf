"""The operator console's dashboard: the day's figures for the user's tenants on one page.

The project package is the composition layer: it may read every app (orders,
slas, exceptions, ai), and no app imports it. `selectors` holds the aggregates,
`charts` draws them as SVG, `figures` puts one page's numbers together and caches
them, and `views` serves the page inside the console's AdminSite.
"""
