"""The pipeline step (`deploy-guard action`): verify in the runner or through the service, then
remedy, file the incident, and report through GitHub Actions' outputs, summary and annotations."""
