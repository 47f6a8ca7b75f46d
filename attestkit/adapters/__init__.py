"""Adapters: everything that touches files beyond hashing, and the network."""
