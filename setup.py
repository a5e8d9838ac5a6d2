"""Thin shim: all metadata is in setup.cfg (kept for tools that still call setup.py)."""
from setuptools import setup

setup()
