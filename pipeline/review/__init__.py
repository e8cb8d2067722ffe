"""Review: candidates pushed to Label Studio and reviewers' verdicts pulled back (`sync`), the kept record of
every review (`reviewed`), the export reader (`lsexport`) and where review stands (`status`)."""
