"""Exchange with other systems (issue 16): STIX 2.1 export (:mod:`.stix`), and the national
network's signed bundles of a state's released aggregates (:mod:`.network`, its command line in
:mod:`.commands`)."""
