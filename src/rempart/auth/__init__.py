"""Authentication: accounts and roles, passwords, second factors, sessions, API clients.

Import the services from their modules; this package file stays empty so that
`rempart.settings` can import `rempart.auth.config` without pulling in the rest.
"""
