"""Alert subscriptions (issue 17): rules a user subscribes to (:mod:`.rules`), the conditions
they test on the data the user receives (:mod:`.conditions`), their incremental evaluation after
each ingest (:mod:`.evaluate`), the in-app inbox (:mod:`.inbox`) and delivery by e-mail and
webhook (:mod:`.delivery`). README: "Alerts"."""
