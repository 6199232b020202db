/**
 * A form drawn from a plugin's options schema (JSON Schema, as the plugin
 * declares it): a field per property, with the schema's limits as the inputs'
 * limits and its defaults as placeholders. Empty fields are left out, so the
 * plugin's default applies. The node checks what is saved against the same
 * schema; the form only helps people get it right the first time.
 */
import { el, field } from './dom.js';

/** The little of JSON Schema the form reads. */
export interface PropertySchema {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  items?: PropertySchema;
  properties?: Record<string, PropertySchema>;
}

export interface OptionsSchema {
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

export interface SchemaForm {
  node: HTMLElement;
  /** The options to save, or a message naming the field that cannot be read. */
  read(): { options: Record<string, unknown> } | { error: string };
}

/** What a field gives back: a value, nothing (the default applies), or a problem. */
type Reading = { value: unknown } | { omit: true } | { error: string };

interface Field {
  node: HTMLElement;
  read(): Reading;
}

/** `connectTimeoutMs` -> `Connect timeout ms`. */
function labelOf(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The description without its `@default …` note (the form says the default itself). */
function hintOf(schema: PropertySchema): string {
  const text = (schema.description ?? '').replace(/\s*@default\b.*$/s, '').trim();
  if (schema.default === undefined) return text;
  const shown = Array.isArray(schema.default) ? (schema.default.length ? `${schema.default.length} entries` : 'none') : JSON.stringify(schema.default);
  return `${text}${text ? ' ' : ''}Default: ${shown}.`;
}

function typeOf(schema: PropertySchema): string | undefined {
  if (schema.enum) return 'enum';
  return Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
}

function scalarInput(id: string, key: string, schema: PropertySchema, saved: unknown, kind: 'integer' | 'number' | 'string'): Field {
  const attributes: Record<string, string> = { name: id, autocomplete: 'off' };
  if (kind === 'string') {
    attributes.type = /password|secret/i.test(key) ? 'password' : 'text';
    if (schema.maxLength !== undefined) attributes.maxlength = String(schema.maxLength);
  } else {
    attributes.type = 'number';
    attributes.step = kind === 'integer' ? '1' : 'any';
    if (schema.minimum !== undefined) attributes.min = String(schema.minimum);
    if (schema.maximum !== undefined) attributes.max = String(schema.maximum);
  }
  if (schema.default !== undefined) attributes.placeholder = String(schema.default);
  const input = el('input', attributes);
  if (saved !== undefined && saved !== null) input.value = String(saved);
  return {
    node: field(labelOf(key), input, hintOf(schema)),
    read() {
      const text = input.value.trim();
      if (text === '') return { omit: true };
      if (kind === 'string') return { value: input.value };
      const value = Number(text);
      if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) return { error: `${labelOf(key)}: a ${kind === 'integer' ? 'whole ' : ''}number is needed` };
      return { value };
    },
  };
}

function enumSelect(id: string, key: string, schema: PropertySchema, saved: unknown): Field {
  const select = el('select', { name: id });
  select.append(el('option', { value: '' }, schema.default !== undefined ? `default (${String(schema.default)})` : '—'));
  for (const [i, choice] of (schema.enum ?? []).entries()) select.append(el('option', { value: String(i) }, String(choice)));
  const index = (schema.enum ?? []).findIndex((choice) => choice === saved);
  if (index >= 0) select.value = String(index);
  return {
    node: el('label', { class: 'field' }, el('span', {}, labelOf(key)), select, el('small', { class: 'muted' }, hintOf(schema))),
    read: () => (select.value === '' ? { omit: true } : { value: schema.enum![Number(select.value)] }),
  };
}

function checkbox(id: string, key: string, schema: PropertySchema, saved: unknown): Field {
  const box = el('input', { type: 'checkbox', name: id });
  box.checked = typeof saved === 'boolean' ? saved : schema.default === true;
  const hint = hintOf(schema);
  return {
    node: el('label', { class: 'field check' }, el('span', { class: 'inline' }, box, ` ${labelOf(key)}`), hint ? el('small', { class: 'muted' }, hint) : null),
    // Left out while it matches the default and the file does not name it: the file stays short.
    read: () => (saved === undefined && box.checked === (schema.default === true) ? { omit: true } : { value: box.checked }),
  };
}

/** A list of strings, one a line; "use the default" leaves the key out (an empty list is a real choice: none). */
function lineList(id: string, key: string, schema: PropertySchema, saved: unknown): Field {
  const text = el('textarea', { name: id, rows: '4', class: 'mono', spellcheck: 'false' });
  const lines = Array.isArray(saved) ? saved : Array.isArray(schema.default) ? schema.default : [];
  text.value = lines.map(String).join('\n');
  const nodes: Array<HTMLElement | null> = [];
  let useDefault: HTMLInputElement | null = null;
  if (schema.default !== undefined) {
    useDefault = el('input', { type: 'checkbox', name: `${id}.default` });
    useDefault.checked = saved === undefined;
    const box = useDefault;
    const sync = (): void => {
      text.disabled = box.checked;
      if (box.checked) text.value = (Array.isArray(schema.default) ? schema.default : []).map(String).join('\n');
    };
    box.addEventListener('change', sync);
    sync();
    nodes.push(el('label', { class: 'inline small' }, box, ' use the default list'));
  }
  const hint = `${hintOf(schema)} One a line.`.trim();
  return {
    node: el('label', { class: 'field' }, el('span', {}, labelOf(key)), ...nodes, text, el('small', { class: 'muted' }, hint)),
    read() {
      if (useDefault?.checked) return { omit: true };
      const value = text.value.split('\n').map((line) => line.trim()).filter(Boolean);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return { error: `${labelOf(key)}: at most ${schema.maxItems} entries` };
      return { value };
    },
  };
}

/** Anything the form cannot draw (objects, lists of objects): JSON, still checked by the node. */
function jsonText(id: string, key: string, schema: PropertySchema, saved: unknown): Field {
  const text = el('textarea', { name: id, rows: '3', class: 'mono', spellcheck: 'false' });
  if (saved !== undefined) text.value = JSON.stringify(saved, null, 2);
  if (schema.default !== undefined) text.placeholder = JSON.stringify(schema.default);
  return {
    node: field(`${labelOf(key)} (JSON)`, text, hintOf(schema)),
    read() {
      if (!text.value.trim()) return { omit: true };
      try {
        return { value: JSON.parse(text.value) as unknown };
      } catch (err) {
        return { error: `${labelOf(key)}: not valid JSON (${(err as Error).message})` };
      }
    },
  };
}

function fieldFor(id: string, key: string, schema: PropertySchema, saved: unknown): Field {
  const type = typeOf(schema);
  if (type === 'enum') return enumSelect(id, key, schema, saved);
  if (type === 'boolean') return checkbox(id, key, schema, saved);
  if (type === 'integer' || type === 'number' || type === 'string') return scalarInput(id, key, schema, saved, type);
  if (type === 'array' && typeOf(schema.items ?? {}) === 'string') return lineList(id, key, schema, saved);
  return jsonText(id, key, schema, saved);
}

/** The form for one plugin's options; fields are named `<plugin>.<option>`. */
export function schemaForm(plugin: string, schema: OptionsSchema, saved: Record<string, unknown>): SchemaForm {
  const properties = Object.entries(schema.properties ?? {});
  const fields = properties.map(([key, property]) => ({ key, field: fieldFor(`${plugin}.${key}`, key, property, saved[key]) }));
  const known = new Set(properties.map(([key]) => key));
  return {
    node: el('div', { class: 'schema-form' }, ...fields.map((f) => f.field.node)),
    read() {
      // Keys the schema does not list (a newer plugin version's) are kept as they are.
      const options: Record<string, unknown> = Object.fromEntries(Object.entries(saved).filter(([key]) => !known.has(key)));
      for (const { key, field: f } of fields) {
        const reading = f.read();
        if ('error' in reading) return { error: reading.error };
        if ('value' in reading) options[key] = reading.value;
      }
      return { options };
    },
  };
}
