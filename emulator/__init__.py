"""An emulator of Azure Communication Services Call Automation, for dev, demo, tests and benchmarks.

It is written from the ACS documentation, not from ``service/``: it shares no parsing, signing or
models with the code it tests, so the two sides cannot agree on the same mistake. It imports
neither ``service`` nor ``workers``.

Entry points: ``emulator.cli.main`` (also ``python -m emulator``) and ``emulator.app.create_app``.
"""
