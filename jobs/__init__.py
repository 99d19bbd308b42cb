"""The worker: RQ jobs that run the playbooks with ansible-runner and turn the runs'
events into statuses. Imports the core, never the web application."""
