import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PluginError } from './errors.js';
import type { PluginDefinition } from './plugin.js';
import { compileSchema, describeSchemaErrors } from './schema.js';

/** The plugins that ship with bitchat, by folder name under `plugins/`. */
export const BUILT_IN_PLUGINS = ['dht', 'trackers', 'lan-discovery', 'relay', 'file-share', 'proxy-socks', 'http-ui'] as const;

const PLUGINS_DIR = fileURLToPath(new URL('../plugins/', import.meta.url));

export type PluginOrigin = 'built-in' | 'path' | 'package' | 'inline';

/** A plugin module read and checked, with its validated options. */
export interface LoadedPlugin {
  /** How the config named it: built-in name, path, or package name. */
  spec: string;
  origin: PluginOrigin;
  definition: PluginDefinition<Record<string, unknown>>;
  options: Record<string, unknown>;
}

/** A plugin given as an object rather than a config key (tests, embedding apps). */
export interface InlinePlugin {
  definition: PluginDefinition<any>;
  options?: Record<string, unknown>;
}

/** Where a config key points: a built-in folder, a file, or a package. */
export function classifySpec(spec: string): PluginOrigin {
  if (spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec) || spec.startsWith('~/')) return 'path';
  if ((BUILT_IN_PLUGINS as readonly string[]).includes(spec)) return 'built-in';
  return 'package';
}

/** Imports one plugin module named in the config and checks its definition and options. */
export async function loadPlugin(spec: string, rawOptions: Record<string, unknown>, configDir: string): Promise<LoadedPlugin> {
  const definition = await importPluginDefinition(spec, configDir);
  return { spec, origin: classifySpec(spec), definition, options: validateOptions(definition, rawOptions, `plugins["${spec}"]`) };
}

/** Imports one plugin module and checks its definition, options aside (the web UI's settings read its options schema). */
export async function importPluginDefinition(spec: string, configDir: string): Promise<PluginDefinition<Record<string, unknown>>> {
  const url = locate(spec, classifySpec(spec), configDir);
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginError('ERR_PLUGIN_LOAD_FAILED', spec, `plugin "${spec}" could not be loaded: ${(err as Error).message}`, { cause: err });
  }
  const definition = (module.default ?? module.plugin) as PluginDefinition<Record<string, unknown>> | undefined;
  checkDefinition(spec, definition);
  return definition;
}

/** Checks an inline plugin as strictly as one loaded from a file. */
export function prepareInline(plugin: InlinePlugin): LoadedPlugin {
  const definition = plugin.definition as PluginDefinition<Record<string, unknown>>;
  checkDefinition(definition?.name ?? '(inline)', definition);
  return {
    spec: definition.name,
    origin: 'inline',
    definition,
    options: validateOptions(definition, plugin.options ?? {}, `plugin "${definition.name}" options`),
  };
}

function locate(spec: string, origin: PluginOrigin, configDir: string): string {
  if (origin === 'built-in') {
    const folder = resolve(PLUGINS_DIR, spec);
    // Under tsx the sources are .ts; in the published build they are .js.
    const entry = ['index.js', 'index.ts'].map((file) => resolve(folder, file)).find((file) => existsSync(file));
    if (!entry) {
      throw new PluginError('ERR_PLUGIN_NOT_BUILT', spec, `built-in plugin "${spec}" is not available yet in this version (see the README's feature table)`);
    }
    return pathToFileURL(entry).href;
  }
  if (origin === 'path') {
    const file = resolve(configDir, spec.startsWith('~/') ? spec.replace('~', process.env.HOME ?? '~') : spec);
    if (!existsSync(file)) throw new PluginError('ERR_PLUGIN_NOT_FOUND', spec, `plugin file "${spec}" not found (looked for ${file})`);
    return pathToFileURL(file).href;
  }
  try {
    return pathToFileURL(createRequire(resolve(configDir, 'config.json')).resolve(spec)).href;
  } catch {
    // ESM-only packages have no `require` condition; let import() resolve them from here.
    try {
      return import.meta.resolve(spec);
    } catch (err) {
      throw new PluginError(
        'ERR_PLUGIN_NOT_FOUND',
        spec,
        `plugin "${spec}" is neither a built-in plugin (${BUILT_IN_PLUGINS.join(', ')}), a path (start it with ./), nor an installed npm package`,
        { cause: err },
      );
    }
  }
}

function checkDefinition(spec: string, definition: PluginDefinition<Record<string, unknown>> | undefined): asserts definition is PluginDefinition<Record<string, unknown>> {
  const problems: string[] = [];
  if (!definition || typeof definition !== 'object') problems.push('no default export (use definePlugin)');
  else {
    if (typeof definition.name !== 'string' || !/^[a-z0-9@][\w./@-]*$/i.test(definition.name)) problems.push('"name" must be a non-empty string');
    if (typeof definition.version !== 'string' || !definition.version) problems.push('"version" must be a string');
    if (typeof definition.apply !== 'function') problems.push('"apply" must be a function');
    if (definition.requires !== undefined && !(Array.isArray(definition.requires) && definition.requires.every((r) => typeof r === 'string'))) {
      problems.push('"requires" must be an array of plugin names');
    }
  }
  if (problems.length) throw new PluginError('ERR_PLUGIN_INVALID', spec, `plugin "${spec}" is not a valid plugin: ${problems.join('; ')}`);
}

function validateOptions(definition: PluginDefinition<Record<string, unknown>>, raw: Record<string, unknown>, where: string): Record<string, unknown> {
  const options = structuredClone(raw);
  const schema = definition.optionsSchema ?? { type: 'object', additionalProperties: false, properties: {} };
  let validate;
  try {
    validate = compileSchema(schema);
  } catch (err) {
    throw new PluginError('ERR_PLUGIN_INVALID', definition.name, `plugin "${definition.name}" has an invalid options schema: ${(err as Error).message}`, { cause: err });
  }
  if (!validate(options)) {
    throw new PluginError('ERR_PLUGIN_OPTIONS_INVALID', definition.name, `${where}: ${describeSchemaErrors(validate.errors, options, where)}`);
  }
  return options;
}

/**
 * Orders plugins so each comes after what it requires (stable: config order
 * otherwise). A missing requirement or a cycle is an error naming the plugin.
 */
export function orderByRequirements(plugins: readonly LoadedPlugin[]): LoadedPlugin[] {
  const byName = new Map<string, LoadedPlugin>();
  for (const plugin of plugins) {
    const name = plugin.definition.name;
    if (byName.has(name)) throw new PluginError('ERR_PLUGIN_DUPLICATE', name, `plugin "${name}" is loaded twice (from "${byName.get(name)!.spec}" and "${plugin.spec}")`);
    byName.set(name, plugin);
  }
  const ordered: LoadedPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: LoadedPlugin, path: string[]): void => {
    const name = plugin.definition.name;
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name].join(' -> ');
      throw new PluginError('ERR_PLUGIN_CIRCULAR', name, `plugins require each other in a circle: ${cycle}`);
    }
    state.set(name, 'visiting');
    for (const required of plugin.definition.requires ?? []) {
      const dependency = byName.get(required);
      if (!dependency) {
        throw new PluginError('ERR_PLUGIN_REQUIREMENT_MISSING', name, `plugin "${name}" requires plugin "${required}", which is not enabled in the config`);
      }
      visit(dependency, [...path, name]);
    }
    state.set(name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}

export function configDirOf(source: string | null): string {
  return source ? dirname(source) : process.cwd();
}
