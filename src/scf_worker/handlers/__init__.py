"""Thin SCF entry points: parse the event, call the capability, map the outcome.

Each ``scf/<function>/index.py`` re-exports ``main_handler`` from one module here.
"""
