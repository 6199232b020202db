import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * One ajv instance per compiled schema keeps kernels independent; defaults
 * are filled in place, and every error is reported, not just the first.
 */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
  return ajv.compile(schema);
}

/**
 * Reads ajv's errors as a person would want them: the key path, what was
 * expected and what was found, one per line.
 */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined, data: unknown, prefix = ''): string {
  if (!errors || errors.length === 0) return 'invalid';
  const lines = new Set<string>();
  for (const error of errors) {
    // anyOf reports each branch and then itself; the summary line is enough.
    if (errors.some((other) => other !== error && other.keyword === 'anyOf' && error.schemaPath.startsWith(other.schemaPath.replace(/\/anyOf$/, '/anyOf/')))) continue;
    lines.add(describeOne(error, data, prefix));
  }
  return [...lines].join('; ');
}

function describeOne(error: ErrorObject, data: unknown, prefix: string): string {
  const path = keyPath(prefix, error.instancePath);
  const found = describeValue(valueAt(data, error.instancePath));
  const at = path ? `"${path}"` : 'the top level';
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty);
      return `unknown key "${keyPath(path, '/' + key)}" (allowed at ${at}: ${allowedKeys(error)})`;
    }
    case 'required':
      return `missing key "${keyPath(path, '/' + String(error.params.missingProperty))}"`;
    case 'type':
      return `at ${at}: expected ${String(error.params.type).replace(/,/g, ' or ')}, found ${found}`;
    case 'enum':
      return `at ${at}: expected one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, found ${found}`;
    case 'const':
      return `at ${at}: expected ${JSON.stringify(error.params.allowedValue)}, found ${found}`;
    case 'anyOf':
      return `at ${at}: expected ${describeBranches(error.schema)}, found ${found}`;
    default:
      return `at ${at}: ${error.message ?? error.keyword}, found ${found}`;
  }
}

function describeBranches(branches: unknown): string {
  if (!Array.isArray(branches)) return 'another form';
  const names = branches.map((branch: { type?: string; const?: unknown }) =>
    'const' in branch ? JSON.stringify(branch.const) : branch.type === 'object' ? 'an object' : String(branch.type ?? 'another form'),
  );
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

function allowedKeys(error: ErrorObject): string {
  const properties = (error.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  const keys = properties ? Object.keys(properties).filter((key) => key !== '$schema') : [];
  return keys.length ? keys.join(', ') : 'none';
}

/** `/plugins/dht/bootstrap/0` -> `plugins.dht.bootstrap[0]`. */
function keyPath(prefix: string, pointer: string): string {
  let path = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) path += path ? `.${part}` : part;
    else path += `[${JSON.stringify(part)}]`;
  }
  return path;
}

function valueAt(data: unknown, pointer: string): unknown {
  let value = data;
  for (const raw of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array`;
  if (typeof value === 'object') return 'an object';
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 60 ? text.slice(0, 57) + '...' : text}`;
}
