import type { Database } from 'better-sqlite3';

/** One schema step; `up` runs inside a transaction and is applied once per database. */
export interface Migration {
  /** Who owns it: 'core' or the plugin's name. */
  owner: string;
  /** Unique within the owner, applied in registration order, e.g. '001-messages'. */
  id: string;
  up(db: Database): void;
}

/** Handed to `hooks.migrations`: core and plugins add their schema steps. */
export interface MigrationRegistry {
  add(migration: Migration): void;
}
