"""Helpers the tests share that are not fixtures: real external programs and what they read."""
