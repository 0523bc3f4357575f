"""Coverage checks and the claims that quote them.

Checks and claims live in one package because they share one ledger: a check tells
what is left of a periodic allowance, and that is what accepted claims consumed.
"""
