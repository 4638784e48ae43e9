"""Operator audit and reports, read offline from the sweep's store (`gmaildesk status|threads|show|next|report`).

Pure reads: `queries` turns the store into dataclasses, `shapes` into the versioned JSON and
CSV the commands print. Nothing here talks to Gmail; `--refresh` runs a sweep first (sweep.service).
"""
