"""Shared plumbing every feature uses: settings, folder guard, jobs with progress, atomic files, the app context.

Nothing here knows about a feature; features import down into it.
"""
