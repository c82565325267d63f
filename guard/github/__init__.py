"""The only place that talks to GitHub: a port the domain depends on, and its PyGithub adapter."""
