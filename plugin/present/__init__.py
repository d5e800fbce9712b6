"""Present: the operator's sentences (:mod:`.sentences`), nagiosplugin's classes for Nagios and Icinga
(:mod:`.nagios`) and the JSON line for Zabbix (:mod:`.jsonout`). Empty on purpose: each output imports its own."""
