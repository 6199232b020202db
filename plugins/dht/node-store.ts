/**
 * Where the DHT routing table is kept between runs, so a restart rejoins from
 * known nodes instead of the bootstrap routers.
 *
 * The kernel's storage service is not in main yet; the plugin persists through
 * this narrow interface. `SqliteNodeStore` works on any better-sqlite3 database
 * (the kernel's, once it exists, or a file the plugin opens itself).
 */
import type { Database } from 'better-sqlite3';
import type { Migration } from '../../core/storage.js';
import { MAX_SAVED_NODES } from './constants.js';

/** A routing-table entry worth keeping: it answered us, so it has an ID. */
export interface SavedNode {
  id: Buffer;
  host: string;
  port: number;
}

export interface RoutingTableStore {
  load(): SavedNode[];
  /** Replace the saved table. */
  save(nodes: SavedNode[]): void;
}

const TABLE = 'dht_nodes';

/** Schema step for the plugin's table (registered on `hooks.migrations`, also applied by `SqliteNodeStore`). */
export const DHT_NODES_MIGRATION: Migration = {
  owner: 'dht',
  id: '001-dht-nodes',
  up(db) {
    db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (
      id BLOB PRIMARY KEY,
      host TEXT NOT NULL,
      port INTEGER NOT NULL,
      saved_at INTEGER NOT NULL
    )`);
  },
};

export class SqliteNodeStore implements RoutingTableStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    // Idempotent, so the store also works on a database nobody migrated.
    DHT_NODES_MIGRATION.up(db);
  }

  load(): SavedNode[] {
    const rows = this.#db
      .prepare(`SELECT id, host, port FROM ${TABLE} ORDER BY saved_at DESC LIMIT ?`)
      .all(MAX_SAVED_NODES) as Array<{ id: unknown; host: unknown; port: unknown }>;
    const out: SavedNode[] = [];
    for (const row of rows) {
      // The file is ours but may be old or edited: keep only well-formed rows.
      if (!Buffer.isBuffer(row.id) || row.id.length !== 20) continue;
      if (typeof row.host !== 'string' || typeof row.port !== 'number') continue;
      if (!Number.isInteger(row.port) || row.port < 1 || row.port > 65535) continue;
      out.push({ id: row.id, host: row.host, port: row.port });
    }
    return out;
  }

  save(nodes: SavedNode[]): void {
    const now = Date.now();
    const insert = this.#db.prepare(`INSERT OR REPLACE INTO ${TABLE} (id, host, port, saved_at) VALUES (?, ?, ?, ?)`);
    const replace = this.#db.transaction((list: SavedNode[]) => {
      this.#db.prepare(`DELETE FROM ${TABLE}`).run();
      for (const n of list.slice(0, MAX_SAVED_NODES)) insert.run(n.id, n.host, n.port, now);
    });
    replace(nodes);
  }
}

/** For tests and nodes without a data folder. */
export class MemoryNodeStore implements RoutingTableStore {
  #nodes: SavedNode[] = [];

  load(): SavedNode[] {
    return this.#nodes.map((n) => ({ ...n }));
  }

  save(nodes: SavedNode[]): void {
    this.#nodes = nodes.slice(0, MAX_SAVED_NODES).map((n) => ({ ...n }));
  }
}
