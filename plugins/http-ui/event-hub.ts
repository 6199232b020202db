import type { WebSocket } from 'ws';

/** A client that has this much unsent data is too slow and is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1 << 20;

export interface UiEvent {
  type: string;
  [key: string]: unknown;
}

/** Fans live events out to every connected page over the one WebSocket each page holds. */
export class EventHub {
  readonly #clients = new Set<WebSocket>();
  readonly stats = { clients: 0, sent: 0, dropped: 0 };

  add(socket: WebSocket): void {
    this.#clients.add(socket);
    this.stats.clients = this.#clients.size;
    socket.on('close', () => {
      this.#clients.delete(socket);
      this.stats.clients = this.#clients.size;
    });
  }

  publish(event: UiEvent): void {
    const text = JSON.stringify(event);
    for (const socket of this.#clients) {
      if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.stats.dropped++;
        socket.terminate();
        continue;
      }
      socket.send(text);
      this.stats.sent++;
    }
  }

  closeAll(): void {
    for (const socket of this.#clients) socket.close(1001, 'server stopping');
    this.#clients.clear();
    this.stats.clients = 0;
  }
}
