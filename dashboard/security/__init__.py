"""Sign-in, roles, the marking (TLP) policy, the audit trail and 28 CFR Part 23 retention."""
