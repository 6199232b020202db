/** The validated node configuration (the config file after defaults). */
export interface KernelConfig {
  /** Absolute path of the node's data folder (database, profile, downloads). */
  dataDir: string;
  /** Absolute path of the profile file, or null for a node without identity (relay-only). */
  profile: string | null;
  /** Where the connection layer listens; port 0 picks a free one. */
  listen: { host: string; port: number };
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  logLevel: string;
  /** Plugin name, relative path or npm package -> options, or false to disable. */
  plugins: Record<string, Record<string, unknown> | false>;
  /** Absolute path of the file this was read from, or null for the embedded default. */
  source: string | null;
}
