"""The insured population: insurers, guarantees, contracts, beneficiaries."""
