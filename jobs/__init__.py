"""The worker side: RQ job functions, and (issue 4) the ansible-runner pipeline."""
