"""Statewide Threat Picture: the testable core behind the app and the threat-picture command."""
