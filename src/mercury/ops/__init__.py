"""Operating tenants on the live platform: backups (take, list, restore, drill).

Decisions are pure functions over object dicts (backups, restore, consistency); only
kube.py talks to a cluster and drill.py/pgserver.py run barman-cloud and PostgreSQL.
`consistency.backup_consistency(objects)` is shared with the verify rules.
"""
