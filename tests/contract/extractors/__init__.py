"""Per-cloud readers that recover the portable settings from a plan's resource inputs.

Each module `<cloud>.py` defines `extract(plan) -> dict` with exactly the keys of
`tests.contract.test_contract.EXPECTED_KEYS`, read from the declared resource inputs (never from
the platform description), so the contract suite checks what each cloud really declares.
"""
