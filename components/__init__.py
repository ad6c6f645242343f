"""The Pulumi program's components: registry, cluster, function (with its alarms)."""
