"""The breach drill: replay the 2024 attack and its variants against a real instance on a
simulated clock, beside honest providers, and score both (`rempart drill`)."""
