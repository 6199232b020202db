import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { compileSchema, describeSchemaErrors } from './schema.js';

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
  /** Absolute path of the file this was read from, or null for the embedded default / an in-memory object. */
  source: string | null;
}

export const CONFIG_FILE_NAME = 'config.json';

/** The kernel's own keys. Plugin options are checked by each plugin's schema. */
export const CORE_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string', description: 'Editor hint; ignored.' },
    dataDir: { type: 'string', minLength: 1, description: 'Data folder (database, profile). `~` and relative paths allowed.' },
    profile: {
      type: ['string', 'null'],
      minLength: 1,
      default: null,
      description: 'Profile file (identity). Omit or null for a node without identity, e.g. a relay-only node.',
    },
    listen: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Where the connection layer accepts peers.',
      properties: {
        host: { type: 'string', minLength: 1, default: '0.0.0.0', description: 'Address to listen on.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 0, description: 'TCP port; 0 picks a free one.' },
      },
    },
    logLevel: {
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      description: 'Log level (logs go to stderr).',
    },
    plugins: {
      type: 'object',
      default: {},
      description: 'Plugins to load: built-in name, relative path or npm package -> options object, or false to disable.',
      additionalProperties: {
        anyOf: [{ type: 'object' }, { const: false }, { const: true }],
      },
    },
  },
} as const;

const validateCore = compileSchema(CORE_CONFIG_SCHEMA);

/** Where a node keeps its data when nothing says otherwise: `$BITCHAT_HOME`, else `~/.bitchat`. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.BITCHAT_HOME ? resolve(expandHome(env.BITCHAT_HOME)) : join(homedir(), '.bitchat');
}

/**
 * The config a fresh machine runs with when no file exists: the public DHT
 * and trackers (each plugin's schema defaults), LAN discovery, the relay client
 * (used only when this node turns out unreachable), file sharing, and the web UI on 127.0.0.1, where the first run creates the profile.
 */
export function embeddedDefaultConfig(env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const home = defaultHome(env);
  return {
    dataDir: home,
    profile: join(home, 'default.profile'),
    listen: { host: '0.0.0.0', port: 0 },
    plugins: { dht: {}, trackers: {}, 'lan-discovery': {}, relay: {}, 'file-share': {}, 'http-ui': {} },
  };
}

export interface LoadConfigOptions {
  /** An explicit `--config` path: it must exist. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
}

/** The CLI's global options that shape the config. */
export interface ConfigCliArgs {
  config?: string;
  logLevel?: string;
}

/** The config a CLI command runs with: `--config` (or the usual search), then `--log-level` over it. */
export function configFromCliArgs(args: ConfigCliArgs): KernelConfig {
  const config = loadConfig(args.config !== undefined ? { configPath: args.config } : {});
  return args.logLevel ? { ...config, logLevel: args.logLevel } : config;
}

/**
 * Finds and reads the config: `--config`, else `$BITCHAT_HOME/config.json`,
 * else `~/.bitchat/config.json`, else the embedded default.
 */
export function loadConfig(options: LoadConfigOptions = {}): KernelConfig {
  const env = options.env ?? process.env;
  if (options.configPath !== undefined) {
    const file = resolve(expandHome(options.configPath));
    return resolveConfig(readConfigFile(file, true) as Record<string, unknown>, file, env);
  }
  const file = join(defaultHome(env), CONFIG_FILE_NAME);
  const raw = readConfigFile(file, false);
  if (raw === undefined) return resolveConfig(embeddedDefaultConfig(env), null, env);
  return resolveConfig(raw as Record<string, unknown>, file, env);
}

/**
 * Validates a config object and fills defaults. Paths are made absolute:
 * relative ones against the config file's folder (or the working directory).
 */
export function resolveConfig(raw: unknown, source: string | null, env: NodeJS.ProcessEnv = process.env): KernelConfig {
  const where = source ?? 'config';
  const copy: unknown = structuredClone(raw);
  if (!validateCore(copy)) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${where}: ${describeSchemaErrors(validateCore.errors, copy)}`);
  }
  const value = copy as Record<string, unknown> & {
    dataDir?: string;
    profile: string | null;
    listen: { host: string; port: number };
    logLevel: string;
    plugins: Record<string, Record<string, unknown> | boolean>;
  };
  const base = source ? dirname(source) : process.cwd();
  const plugins: KernelConfig['plugins'] = {};
  for (const [name, options] of Object.entries(value.plugins)) {
    plugins[name] = options === true ? {} : options;
  }
  return {
    dataDir: value.dataDir ? absolutePath(value.dataDir, base) : defaultHome(env),
    profile: value.profile === null ? null : absolutePath(value.profile, base),
    listen: value.listen,
    logLevel: value.logLevel,
    plugins,
    source,
  };
}

function readConfigFile(file: string, mustExist: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !mustExist) return undefined;
    if (code === 'ENOENT') throw new ConfigError('ERR_CONFIG_NOT_FOUND', `${file}: no such config file`, { cause: err });
    throw new ConfigError('ERR_CONFIG_UNREADABLE', `${file}: cannot read config file (${code ?? String(err)})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('ERR_CONFIG_NOT_JSON', `${file}: not valid JSON: ${describeJsonError(err as Error, text)}`, { cause: err });
  }
}

/** Turns V8's "at position N" into a line and column a person can find. */
function describeJsonError(err: Error, text: string): string {
  const match = /position (\d+)/.exec(err.message);
  if (!match) return err.message;
  const position = Number(match[1]);
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `${err.message.replace(/ in JSON at position \d+.*$/, '')} (line ${line}, column ${column})`;
}

export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

function absolutePath(path: string, base: string): string {
  const expanded = expandHome(path);
  return isAbsolute(expanded) ? expanded : resolve(base, expanded);
}
