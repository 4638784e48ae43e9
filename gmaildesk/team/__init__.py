"""A team's actions on one conversation: who owns it, replies drafted from templates.

Below the CLI, above config and gmail; reads the sweep store's records (sweep.store, sweep.state) like
the audit does, and never the sweep engine.
"""
