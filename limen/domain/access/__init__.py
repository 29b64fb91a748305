"""Access decisions: what a sign-in must satisfy. Conditional Access and security defaults plug in here."""
