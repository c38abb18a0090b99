"""Helpers the tests import: plain functions, classes and constants, never a test. Test modules
import from here (and get fixtures from the conftest.py files by naming them); nothing here
imports a test module or a conftest."""
