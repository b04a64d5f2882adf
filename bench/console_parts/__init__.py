"""The parts of `bench/console.py`. Kept free of imports at package level: gunicorn
imports `bench.console_parts.settings` (and through it `plain_urls`) as a module of
the repository, without `bench/` on its path."""
