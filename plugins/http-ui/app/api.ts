/** The node's local API. The access token travels in an HttpOnly cookie set by the server. */
export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export interface PluginInfo {
  name: string;
  spec: string;
  origin: string;
  version?: string;
  description?: string;
  state: 'loaded' | 'disabled' | 'failed';
  reason?: string;
  taps: string[];
}

export interface NodeInfo {
  version: string;
  dataDir: string;
  profile: string | null;
  uptimeMs: number;
  plugins: PluginInfo[];
}

export interface Connectivity {
  listen: { host: string; port: number };
  services: Record<string, Record<string, unknown>>;
}

/** One WebSocket for live events; reconnects with back-off while the page is open. */
export function connectEvents(onEvent: (event: { type: string }) => void, onState: (live: boolean) => void): void {
  let delay = 500;
  const open = (): void => {
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/events`);
    socket.addEventListener('open', () => {
      delay = 500;
      onState(true);
    });
    socket.addEventListener('message', (message) => {
      try {
        onEvent(JSON.parse(String(message.data)) as { type: string });
      } catch {
        // A malformed event is ignored; the next one may be fine.
      }
    });
    socket.addEventListener('close', () => {
      onState(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    });
  };
  open();
}
