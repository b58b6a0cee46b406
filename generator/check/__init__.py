"""The check stage: every object an environment receives against its schema, the pod
policy, the secret scan and the controllers' own rules."""
