"""The Pulumi program, its offline planner and the `mlops` command line."""
