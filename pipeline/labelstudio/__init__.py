"""Label Studio: what a task and an annotation hold (`tasks`), the HTTP adapter every stage uses (`adapter`), the
local server ftboot runs (`server`: installed once per user by `install`, its data in `datadir`, its database
chosen by `storage` among SQLite, `postgres` at a DSN and the local `pgcluster`), the read-only database read for
`review status` (`db`) and the review project's data-manager view (`view`)."""
