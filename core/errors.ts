/**
 * One error base for the whole project. Every error that crosses a module
 * boundary carries a stable `code` (`ERR_<AREA>_<REASON>`) that callers and
 * tests match on; the message is for people and may change.
 */
const BRAND = Symbol.for('bitchat.error');

export class BitChatError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BitChatError';
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * One module file can be loaded twice in a process (a plugin imported as ESM
   * while tests load core through another loader, or two copies of the package
   * under node_modules). A global symbol brand keeps `instanceof BitChatError`
   * true across those copies.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== BitChatError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The config file is missing, unreadable, not JSON, or does not match its schema. */
export class ConfigError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConfigError';
  }
}

/** A plugin could not be found, loaded, ordered, applied, or one of its taps failed. */
export class PluginError extends BitChatError {
  readonly plugin: string;
  readonly hook?: string;

  constructor(code: string, plugin: string, message: string, options?: { cause?: unknown; hook?: string }) {
    super(code, message, options);
    this.name = 'PluginError';
    this.plugin = plugin;
    if (options?.hook !== undefined) this.hook = options.hook;
  }
}

/** The database is locked by another node, corrupt, or a migration failed. */
export class StorageError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'StorageError';
  }
}

/** A kernel service was asked for but nobody registered it. */
export class ServiceError extends BitChatError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ServiceError';
  }
}

/** True when `err` is a BitChatError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof BitChatError && err.code === code;
}
