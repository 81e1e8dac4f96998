"""Over-the-air model updates (issue 20): a TUF repository on the cloud side (repository.py, served by
server.py) and the vehicle's updater with its A/B slots (updater.py). Signatures, hashes, versions and
expiry are python-tuf's work; nothing here re-implements them."""
