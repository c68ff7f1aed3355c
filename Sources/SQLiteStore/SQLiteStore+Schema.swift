import GRDB

extension SQLiteStore {
    /// Every schema change, in order. Migrations are append-only: a released one never changes,
    /// a new version adds `"v2"`, `"v3"`, ... The schema version is the number applied.
    ///
    /// Dates are `INTEGER` microseconds since 1970 UTC, Booleans `INTEGER` 0/1, and free-form
    /// dictionaries JSON text (see `ColumnCoding`). Columns are named after the API fields so
    /// that a validated `sort_key` is also a column name.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE chassis (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL,
                    description TEXT,
                    extra TEXT NOT NULL DEFAULT '{}',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER
                );
                CREATE UNIQUE INDEX uniq_chassis0uuid ON chassis(uuid);

                CREATE TABLE nodes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL,
                    name TEXT,
                    chassis_uuid TEXT REFERENCES chassis(uuid) ON DELETE RESTRICT,
                    instance_uuid TEXT,
                    driver TEXT NOT NULL,
                    driver_info TEXT NOT NULL DEFAULT '{}',
                    driver_internal_info TEXT NOT NULL DEFAULT '{}',
                    instance_info TEXT NOT NULL DEFAULT '{}',
                    properties TEXT NOT NULL DEFAULT '{}',
                    extra TEXT NOT NULL DEFAULT '{}',
                    clean_step TEXT NOT NULL DEFAULT '{}',
                    deploy_step TEXT NOT NULL DEFAULT '{}',
                    service_step TEXT NOT NULL DEFAULT '{}',
                    raid_config TEXT NOT NULL DEFAULT '{}',
                    target_raid_config TEXT NOT NULL DEFAULT '{}',
                    network_data TEXT NOT NULL DEFAULT '{}',
                    reservation TEXT,
                    conductor_affinity TEXT,
                    conductor_group TEXT NOT NULL DEFAULT '',
                    power_state TEXT,
                    target_power_state TEXT,
                    provision_state TEXT NOT NULL,
                    target_provision_state TEXT,
                    provision_updated_at INTEGER,
                    maintenance INTEGER NOT NULL DEFAULT 0,
                    maintenance_reason TEXT,
                    fault TEXT,
                    console_enabled INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    resource_class TEXT,
                    inspection_started_at INTEGER,
                    inspection_finished_at INTEGER,
                    automated_clean INTEGER,
                    protected INTEGER NOT NULL DEFAULT 0,
                    protected_reason TEXT,
                    retired INTEGER NOT NULL DEFAULT 0,
                    retired_reason TEXT,
                    owner TEXT,
                    lessee TEXT,
                    description TEXT,
                    allocation_uuid TEXT,
                    boot_mode TEXT,
                    secure_boot INTEGER,
                    interfaces TEXT NOT NULL DEFAULT '{}',
                    traits TEXT NOT NULL DEFAULT '[]',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER
                );
                CREATE UNIQUE INDEX uniq_nodes0uuid ON nodes(uuid);
                CREATE UNIQUE INDEX uniq_nodes0name ON nodes(name);
                CREATE UNIQUE INDEX uniq_nodes0instance_uuid ON nodes(instance_uuid);
                CREATE INDEX nodes_chassis_uuid_idx ON nodes(chassis_uuid);
                CREATE INDEX nodes_reservation_idx ON nodes(reservation);
                CREATE INDEX nodes_provision_state_idx ON nodes(provision_state);
                CREATE INDEX nodes_conductor_group_idx ON nodes(conductor_group);
                CREATE INDEX nodes_driver_idx ON nodes(driver);

                CREATE TABLE portgroups (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL,
                    name TEXT,
                    address TEXT,
                    node_uuid TEXT NOT NULL REFERENCES nodes(uuid) ON DELETE CASCADE,
                    standalone_ports_supported INTEGER NOT NULL DEFAULT 1,
                    mode TEXT,
                    properties TEXT NOT NULL DEFAULT '{}',
                    internal_info TEXT NOT NULL DEFAULT '{}',
                    extra TEXT NOT NULL DEFAULT '{}',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER
                );
                CREATE UNIQUE INDEX uniq_portgroups0uuid ON portgroups(uuid);
                CREATE UNIQUE INDEX uniq_portgroups0name ON portgroups(name);
                CREATE UNIQUE INDEX uniq_portgroups0address ON portgroups(address);
                CREATE INDEX portgroups_node_uuid_idx ON portgroups(node_uuid);

                CREATE TABLE ports (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL,
                    address TEXT NOT NULL,
                    node_uuid TEXT NOT NULL REFERENCES nodes(uuid) ON DELETE CASCADE,
                    portgroup_uuid TEXT REFERENCES portgroups(uuid) ON DELETE RESTRICT,
                    local_link_connection TEXT NOT NULL DEFAULT '{}',
                    pxe_enabled INTEGER NOT NULL DEFAULT 1,
                    physical_network TEXT,
                    internal_info TEXT NOT NULL DEFAULT '{}',
                    extra TEXT NOT NULL DEFAULT '{}',
                    is_smartnic INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER
                );
                CREATE UNIQUE INDEX uniq_ports0uuid ON ports(uuid);
                CREATE UNIQUE INDEX uniq_ports0address ON ports(address);
                CREATE INDEX ports_node_uuid_idx ON ports(node_uuid);
                CREATE INDEX ports_portgroup_uuid_idx ON ports(portgroup_uuid);

                CREATE TABLE conductors (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    hostname TEXT NOT NULL,
                    conductor_group TEXT NOT NULL DEFAULT '',
                    online INTEGER NOT NULL DEFAULT 1,
                    hardware_types TEXT NOT NULL DEFAULT '[]',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX uniq_conductors0hostname ON conductors(hostname);

                CREATE TABLE node_history (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL,
                    node_uuid TEXT NOT NULL REFERENCES nodes(uuid) ON DELETE CASCADE,
                    created_at INTEGER NOT NULL,
                    severity TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    event TEXT NOT NULL,
                    conductor TEXT,
                    user TEXT
                );
                CREATE UNIQUE INDEX uniq_node_history0uuid ON node_history(uuid);
                CREATE INDEX node_history_node_uuid_idx ON node_history(node_uuid, id);
                """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE node_inventory (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    node_uuid TEXT NOT NULL REFERENCES nodes(uuid) ON DELETE CASCADE,
                    inventory TEXT NOT NULL,
                    plugin_data TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX uniq_node_inventory0node_uuid ON node_inventory(node_uuid);
                """)
        }
        return migrator
    }()
}
