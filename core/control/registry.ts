/**
 * The control socket's method registry. Core registers the chat and node methods;
 * plugins add theirs by tapping `hooks.controlMethods`. A method is a name
 * (`area.verb`), a description, an optional JSON Schema for its params (checked
 * before the handler runs; compiled on first use, so a node that is never asked
 * pays nothing) and a handler.
 */
import type { ValidateFunction } from 'ajv';
import type { JsonSchema } from '../plugin.js';
import { compileSchema, describeSchemaErrors } from '../schema.js';
import { ControlError, ControlErrorCode } from './errors.js';
import { METHOD_PATTERN, MAX_METHOD_CHARS } from './protocol.js';

/** Handed to a handler: its way to stream events, and to notice it should stop. */
export interface ControlContext {
  /** Sends an event line for this request before its result (ignored once the request ended). */
  emit(event: string, data?: unknown): void;
  /** Aborted when the client cancels the request (`control.cancel`), disconnects, or the node stops. */
  readonly signal: AbortSignal;
}

export interface ControlMethod<P = Record<string, unknown>> {
  /** One line for `control.methods` and the docs. */
  description: string;
  /** JSON Schema of `params` (an object); defaults in it are filled in before the handler runs. */
  paramsSchema?: JsonSchema;
  /** Returns the result (JSON; Buffers become hex) or throws a BitChatError whose code crosses the socket. */
  handler(params: P, context: ControlContext): unknown;
}

/** What `hooks.controlMethods` hands to a tap. */
export interface ControlMethodRegistry {
  /** Adds a method; ERR_CONTROL_BAD_METHOD_NAME when the name is malformed, reserved (`control.*`) or taken. */
  add<P = Record<string, unknown>>(name: string, method: ControlMethod<P>): void;
}

interface Entry {
  method: ControlMethod<unknown>;
  validate?: ValidateFunction;
}

/** The server's own methods (answered by the server, not by a handler). */
export const RESERVED_PREFIX = 'control.';

export class ControlMethods implements ControlMethodRegistry {
  private readonly entries = new Map<string, Entry>();

  add<P = Record<string, unknown>>(name: string, method: ControlMethod<P>): void {
    if (typeof name !== 'string' || name.length > MAX_METHOD_CHARS || !METHOD_PATTERN.test(name)) {
      throw new ControlError(ControlErrorCode.BAD_METHOD_NAME, `control method name "${String(name)}" is not of the form "area.verb"`);
    }
    if (name.startsWith(RESERVED_PREFIX)) throw new ControlError(ControlErrorCode.BAD_METHOD_NAME, `control method names "${RESERVED_PREFIX}*" are the server's own`);
    if (this.entries.has(name)) throw new ControlError(ControlErrorCode.BAD_METHOD_NAME, `control method "${name}" is already registered`);
    if (typeof method?.handler !== 'function') throw new ControlError(ControlErrorCode.BAD_METHOD_NAME, `control method "${name}" has no handler`);
    this.entries.set(name, { method: method as ControlMethod<unknown> });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Names and descriptions, sorted by name. */
  list(): Array<{ name: string; description: string }> {
    return [...this.entries].map(([name, e]) => ({ name, description: e.method.description })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Checks `params` against the method's schema and runs its handler. */
  async invoke(name: string, params: Record<string, unknown>, context: ControlContext): Promise<unknown> {
    const entry = this.entries.get(name);
    if (!entry) throw new ControlError(ControlErrorCode.UNKNOWN_METHOD, `no control method "${name}"`);
    if (entry.method.paramsSchema) {
      entry.validate ??= compileSchema(entry.method.paramsSchema);
      if (!entry.validate(params)) {
        throw new ControlError(ControlErrorCode.BAD_PARAMS, `${name}: ${describeSchemaErrors(entry.validate.errors, params, 'params')}`);
      }
    }
    return entry.method.handler(params, context);
  }
}
