"""The operator's security console: open alerts, an account's timeline with the guard's
reasons, containment and restore (`rempart.console.service`), and breach response run
from a page (`rempart.console.breach`). Pages live in `rempart.console.pages`."""
