"""Exchange with other systems in their standards (issue 16): STIX 2.1 export."""
