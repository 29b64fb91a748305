"""Wire protocols through which applications and clients reach the sign-in pipeline."""
