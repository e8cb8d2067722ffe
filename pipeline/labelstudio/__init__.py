"""Label Studio: what a task and an annotation hold (`tasks`), the HTTP adapter every stage uses (`adapter`), the
local server ftboot runs (`server`) and the review project's data-manager view (`view`)."""
