"""The pre-deploy gate: a custom deployment protection rule that holds deployments back."""
