/**
 * The services the web UI drives, as the UI sees them. They are provided by
 * other parts of the node (`identity` and `chat` by the chat wiring, `fileShare`
 * by the file-share plugin); the UI only needs this much of them, and reads
 * results leniently (a field it does not know is ignored, a missing one is
 * shown as unknown) so it keeps working as those services grow.
 */

import type { CreateProfileInput, IdentityStatus } from '../../core/node/identity-service.js';

export type { CreateProfileInput, IdentityStatus };

/** Something with Node's EventEmitter subscription methods. */
export interface Subscribable {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
}

/** `resolve('identity')`: the profile of a node whose config names one. Events: 'unlocked', 'locked'. */
export interface IdentityServiceView extends Subscribable {
  /** The unlocked profile (core/identity's Profile), for the CA registration; absent while locked. */
  readonly profile?: unknown;
  status(): IdentityStatus;
  /** Saves the unlocked profile to its file (after the CA's certificate was adopted). */
  persist?(): Promise<unknown>;
  create(input: CreateProfileInput, onProgress?: (progress: unknown) => void): Promise<unknown>;
  unlock(password: string): Promise<unknown>;
  lock(): unknown;
}

/** A message cursor as the chat layer pages history: strictly older than (hlc, id). */
export interface HistoryCursor {
  hlc: { wallMs: number; counter: number };
  id: Buffer;
}

/**
 * `resolve('chat')` once the profile is unlocked. Events (chatId first):
 * 'message', 'delivery', 'typing', 'member', 'mesh'.
 */
export interface ChatServiceView extends Subscribable {
  list(): unknown;
  createGroup(name: string, secret?: string): unknown;
  openPrivateChat(email: string, secret?: string): unknown;
  send(chatId: number, text: string): unknown;
  history(chatId: number, options: { before?: HistoryCursor; limit: number }): unknown;
  search(query: string, options?: { chatId?: number; limit?: number; beforeSeq?: number }): unknown;
  typing(chatId: number): unknown;
  members(chatId: number): unknown;
  leave(chatId: number): unknown;
  /**
   * Invitations (spec §2.6); absent on a chat service that has none. Events: 'invitation' (Invitation),
   * 'invitation-sent' (OutgoingInvitation), 'invitation-delivered' (chatId, end point), 'invitation-ended' (InvitationEnd).
   */
  invite?(email: string, text: string): unknown;
  pendingInvitations?(): unknown;
  acceptInvitation?(email: string): unknown;
  declineInvitation?(email: string): unknown;
  setInvitationPolicy?(policy: { allow?: boolean; lanOnly?: boolean }): unknown;
  /** The invitations we sent (core/node/invitations.ts `OutgoingInvitation`), and cancelling one by the invitee's e-mail. */
  outgoingInvitations?(): unknown;
  cancelInvitation?(email: string): unknown;
  /** Where the current invitation policy is read (core/node/invitations.ts). */
  readonly invitations?: { readonly allowInbound?: boolean; readonly lanOnly?: boolean };
}

/** `resolve('fileShare')` when the file-share plugin is loaded. */
export interface FileShareServiceView extends Partial<Subscribable> {
  share(path: string, chat: string): unknown;
  list(): unknown;
  /** The chats a file belongs to: network IDs in hex (or the chat key it was shared with). */
  chatsOf?(fileId: string): unknown;
  download?(fileId: string): unknown;
  pause?(fileId: string): unknown;
  resume?(fileId: string): unknown;
  cancel?(fileId: string): unknown;
}

export const CHAT_EVENTS = ['message', 'delivery', 'typing', 'member', 'mesh'] as const;
/** Chat service events without a chatId first (an invitation has no chat of ours yet when announced). */
export const INVITATION_EVENTS = ['invitation', 'invitation-sent', 'invitation-delivered', 'invitation-ended'] as const;
export const IDENTITY_EVENTS = ['unlocked', 'locked'] as const;

export function unsubscribe(target: Subscribable, event: string, listener: (...args: any[]) => void): void {
  if (target.off) target.off(event, listener);
  else target.removeListener?.(event, listener);
}
