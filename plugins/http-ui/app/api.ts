/** The node's local API. The access token travels in an HttpOnly cookie set by the server. */
import type { OptionsSchema } from './schema-form.js';

/** An API error: the server's stable code and its message for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = text;
    try {
      const parsed = JSON.parse(text) as { code?: string; message?: string };
      code = parsed.code ?? code;
      message = parsed.message ?? message;
    } catch {
      // Not JSON (e.g. the security checks answer in plain text).
    }
    throw new ApiError(response.status, code, message);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const getJson = <T>(path: string): Promise<T> => call<T>('GET', path);
export const postJson = <T>(path: string, body: unknown = {}): Promise<T> => call<T>('POST', path, body);
export const putJson = <T>(path: string, body: unknown): Promise<T> => call<T>('PUT', path, body);
export const deleteJson = <T>(path: string): Promise<T> => call<T>('DELETE', path);

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

export interface IdentityStatus {
  state: 'none' | 'locked' | 'unlocked';
  email?: string;
  name?: string;
  fingerprint?: string;
  safetyNumber?: string;
}

/** A registration with a certification authority waiting for the mailed code. */
export interface Registration {
  state: 'registering' | 'code-sent' | 'failed';
  email: string;
  caUrl: string;
  caName: string;
  caFingerprint: string;
  expiresAt: number | null;
  error: string | null;
}

export interface ProfileInfo {
  available: boolean;
  status: IdentityStatus;
  chat: boolean;
  fileShare: boolean;
  /** The chat service has invitations (older or stand-in services have none). */
  invitations?: boolean;
  registration?: Registration | null;
  /** Who issued the unlocked profile's certificate. */
  certificate?: 'self' | 'ca' | null;
}

export interface Chat {
  chatId: number;
  kind: 'group' | 'private';
  name: string;
  online: boolean;
  unread: number;
  meshStatus: string;
  onlineMembers: number;
  lastMessageAt: number | null;
}

export interface Message {
  id: string;
  seq: number;
  chatId: number;
  type: number;
  sender: string;
  outgoing: boolean;
  sentAt: number;
  receivedAt: number;
  text: string | null;
  deliveredTo: string[];
  pendingTo: string[];
}

export interface Member {
  identity: string;
  name: string | null;
  online: boolean;
  fingerprint: string | null;
  safetyNumber: string | null;
}

/** A pending inbound invitation (spec §2.6): someone who has not been added started a private chat with us. */
export interface Invitation {
  chatId: number;
  /** The inviter's e-mail, from its certificate. */
  email: string;
  name: string;
  text: string;
  fingerprint: string;
  safetyNumber: string;
  receivedAt: number;
}

/** An invitation we sent, until the invitee joins, we cancel it or leave the chat (kept across restarts). */
export interface OutgoingInvitation {
  chatId: number;
  /** The invitee. */
  email: string;
  since: number;
  /** How many times a node of the invitee took it. */
  deliveries: number;
  deliveredAt?: number;
  state: 'looking' | 'delivered';
}

/** An invitation left the lists: 'in' (we received it) or 'out' (we sent it), and why. */
export interface InvitationEnd {
  chatId: number;
  direction: 'in' | 'out';
  email: string;
  reason: 'accepted' | 'declined' | 'joined' | 'cancelled' | 'left' | 'expired';
}

export interface InvitationPolicy {
  allow: boolean;
  lanOnly: boolean;
}

export interface Transfer {
  id: string;
  name: string;
  mimeType: string | null;
  direction: 'in' | 'out';
  state: string;
  size: number;
  done: number;
  rate: number | null;
  error: string | null;
  /** The chats it was shared in or advertised from. */
  chats: Array<{ chatId: number; name: string }>;
}

export interface Settings {
  source: string | null;
  restartNeeded: boolean;
  plugins: Array<{
    name: string;
    enabled: boolean;
    options: Record<string, unknown>;
    state: string;
    description?: string;
    reason?: string;
    /** The plugin's options schema; the options form is drawn from it. */
    optionsSchema: OptionsSchema | null;
  }>;
}

export type UiEvent =
  | { type: 'identity'; status: IdentityStatus }
  | { type: 'profile-progress'; progress: { fraction?: number; done?: boolean; [key: string]: unknown } }
  | { type: 'message'; chatId: number; message: Message }
  | { type: 'delivery'; chatId: number; id: string; recipient: string }
  | { type: 'typing'; chatId: number; identity: string }
  | { type: 'member'; chatId: number; member: Member }
  | { type: 'mesh'; chatId: number; status: string }
  | { type: 'file'; transfer: Transfer }
  | { type: 'registration'; registration: Registration | null }
  | { type: 'invitation'; invitation: Invitation }
  | { type: 'invitation-sent'; invitation: OutgoingInvitation }
  | { type: 'invitation-delivered'; chatId: number; endpoint: string }
  | ({ type: 'invitation-ended' } & InvitationEnd)
  | { type: string; [key: string]: unknown };

/** One WebSocket for live events; reconnects with back-off while the page is open. */
export function connectEvents(onEvent: (event: UiEvent) => void, onState: (live: boolean) => void): void {
  let delay = 500;
  const open = (): void => {
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/events`);
    socket.addEventListener('open', () => {
      delay = 500;
      onState(true);
    });
    socket.addEventListener('message', (message) => {
      let event: UiEvent;
      try {
        event = JSON.parse(String(message.data)) as UiEvent;
      } catch {
        return; // A malformed event is ignored; the next one may be fine.
      }
      onEvent(event);
    });
    socket.addEventListener('close', () => {
      onState(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    });
  };
  open();
}
