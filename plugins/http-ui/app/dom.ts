/** Builds DOM nodes. Text is always set as text, never parsed as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Array<Node | string | null | undefined | false>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function definitionList(entries: Array<[string, string]>): HTMLDListElement {
  const list = el('dl');
  for (const [term, value] of entries) list.append(el('dt', {}, term), el('dd', {}, value));
  return list;
}

/** A labelled form field. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement, hint?: string): HTMLLabelElement {
  return el('label', { class: 'field' }, el('span', {}, label), input, hint ? el('small', { class: 'muted' }, hint) : null);
}

export function input(attributes: Record<string, string>): HTMLInputElement {
  return el('input', attributes);
}

/** A paragraph that shows a form's error, empty until then. */
export function errorLine(): HTMLParagraphElement & { set(err: unknown): void; clear(): void } {
  const line = el('p', { class: 'error', role: 'alert' }) as HTMLParagraphElement & { set(err: unknown): void; clear(): void };
  line.set = (err) => {
    line.textContent = (err as Error)?.message ?? String(err);
  };
  line.clear = () => {
    line.textContent = '';
  };
  return line;
}

export function formatTime(ms: number): string {
  if (!ms) return '';
  const date = new Date(ms);
  const today = new Date();
  return date.toDateString() === today.toDateString()
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * A paper-clip icon drawn as SVG: emoji fonts are missing on many systems
 * (a headless Chromium shows an empty box), and an SVG built node by node
 * needs no image source in the Content-Security-Policy.
 */
export function paperClipIcon(): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  for (const [name, value] of Object.entries({ viewBox: '0 0 24 24', width: '18', height: '18', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' })) {
    svg.setAttribute(name, value);
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M20 11.5l-8.2 8.2a5.2 5.2 0 0 1-7.4-7.4l8.6-8.6a3.5 3.5 0 0 1 4.9 4.9l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9');
  svg.append(path);
  return svg;
}
