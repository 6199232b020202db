import WebSocket from 'ws';
import { tokenCookieName } from '../../../plugins/http-ui/security.js';
import type { UiNode } from './ui-node.js';

const WAIT_MS = 10_000;
const UNTIL_MS = 30_000;

/** Polls `probe` every 50 ms until it returns something (at most 30 s). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + UNTIL_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A page's event socket: collects every pushed event; `waitFor` resolves on the first match. */
export async function openEvents(node: UiNode): Promise<{ events: any[]; waitFor(match: (e: any) => boolean): Promise<any>; close(): void }> {
  const socket = new WebSocket(`ws://127.0.0.1:${node.port}/api/events`, { headers: { cookie: `${tokenCookieName(node.port)}=${node.token}` } });
  const events: any[] = [];
  const waiters: Array<{ match: (e: any) => boolean; resolve: (e: any) => void }> = [];
  socket.on('message', (data) => {
    const event = JSON.parse(String(data));
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.match(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return {
    events,
    waitFor(match) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching event arrived')), WAIT_MS);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      });
    },
    close: () => socket.terminate(),
  };
}
